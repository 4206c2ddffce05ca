/** Small images the image and ingest tests make for themselves (no dataset needed). */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** A textured RGB test picture: gradients plus a checkerboard, `w`×`h`, seeded by `seed`. */
export function texturedRaw(w: number, h: number, seed = 1): Buffer {
  const buf = Buffer.alloc(w * h * 3);
  let s = seed >>> 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const check = ((x >> 3) + (y >> 3)) & 1 ? 60 : 0;
    const i = (y * w + x) * 3;
    buf[i] = (x * 255 / w + check + (seed * 37)) & 255;
    buf[i + 1] = (y * 255 / h + check) & 255;
    buf[i + 2] = (((x + y) * 2 + (s >>> 28)) + seed * 91) & 255;
  }
  return buf;
}

export async function jpeg(w: number, h: number, seed = 1, quality = 90): Promise<Buffer> {
  return sharp(texturedRaw(w, h, seed), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality }).toBuffer();
}

export async function png(w: number, h: number, seed = 1): Promise<Buffer> {
  return sharp(texturedRaw(w, h, seed), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A well-formed PNG whose header claims `w`×`h` pixels but whose data is a few bytes (a decompression bomb's header). */
export function lyingPng(w = 100_000, h = 100_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0)),
  ]);
}

export const SVG_ENTITY = Buffer.from('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>');
export const SVG_HUGE = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100000000 100000000" width="100000000" height="100000000"><rect width="100%" height="100%"/></svg>');

/** A 3-frame animated GIF, 40×30. */
export async function animatedGif(): Promise<Buffer> {
  const frames = await Promise.all([1, 2, 3].map((s) => png(40, 30, s)));
  return sharp(frames, { join: { animated: true } }).gif().toBuffer();
}

/** A CMYK JPEG. */
export async function cmykJpeg(): Promise<Buffer> {
  return sharp(texturedRaw(64, 48, 3), { raw: { width: 64, height: 48, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
}

/** A 16-bit RGB PNG. */
export async function png16(): Promise<Buffer> {
  return sharp(texturedRaw(64, 48, 4), { raw: { width: 64, height: 48, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
}

/** A JPEG stored sideways with EXIF orientation 6 (displayed rotated 90°): stored 80×40, displayed 40×80. */
export async function rotatedJpeg(): Promise<Buffer> {
  return sharp(texturedRaw(80, 40, 5), { raw: { width: 80, height: 40, channels: 3 } }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
}

/** A PNG with a transparent half. */
export async function alphaPng(): Promise<Buffer> {
  const w = 64, h = 48;
  const buf = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) { buf[i * 4] = 200; buf[i * 4 + 1] = 30; buf[i * 4 + 2] = 30; buf[i * 4 + 3] = i % w < w / 2 ? 255 : 0; }
  return sharp(buf, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
}
