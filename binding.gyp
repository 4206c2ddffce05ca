{
  "targets": [
    {
      "target_name": "pinrec_native",
      "sources": ["src/native/kernels.c"],
      "libraries": ["-lm"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c11"],
      "cflags!": ["-O2"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-ffp-contract=off"] }
    }
  ]
}
