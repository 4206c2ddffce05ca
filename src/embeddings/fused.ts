/**
 * A faster forward pass for plain chain-shaped Keras CNNs (MobileNet V1, Tiny Darknet): BatchNormalization is
 * folded into the preceding convolution's kernel and bias, and the activation is fused into the convolution
 * (`tf.fused.conv2d` / `tf.fused.depthwiseConv2d`), as the TF.js converter does for graph models. Layers
 * models otherwise run every BatchNorm and activation as a separate pass over memory.
 *
 * Only exact chains of supported layers are planned; anything else (branches, other layer types) returns
 * `undefined` and the layers model runs as is. The caller checks the plan against the layers model
 * numerically before using it.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { LayersModel, SymbolicTensor, layers } from '@tensorflow/tfjs-layers';
import type { Tf } from './tf.js';

type Act = 'linear' | 'relu' | 'relu6' | 'leakyrelu';

type Step =
  | { kind: 'pad'; paddings: [number, number][] }
  | { kind: 'conv'; depthwise: boolean; filter: TF.Tensor4D; bias: TF.Tensor1D | undefined; strides: [number, number]; pad: 'same' | 'valid'; dilations: [number, number]; act: Act; alpha: number }
  | { kind: 'act'; act: Act; alpha: number }
  | { kind: 'maxpool'; size: [number, number]; strides: [number, number]; pad: 'same' | 'valid' }
  | { kind: 'gap' }
  | { kind: 'identity' };

/** A planned chain: run it with {@link FusedPlan.run}; free with {@link FusedPlan.dispose}. */
export interface FusedPlan {
  run(x: TF.Tensor4D): TF.Tensor;
  dispose(): void;
  /** Number of convolutions with BatchNorm folded in. */
  folded: number;
}

type Cfg = Record<string, unknown>;
const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)]);

function activationOf(layer: layers.Layer): { act: Act; alpha: number } | undefined {
  const cls = layer.getClassName();
  const cfg = layer.getConfig() as Cfg;
  if (cls === 'Activation') {
    const a = String(cfg.activation);
    if (a === 'relu' || a === 'relu6' || a === 'linear') return { act: a, alpha: 0 };
    return undefined;
  }
  if (cls === 'ReLU') {
    const mv = cfg.maxValue;
    if (mv === 6) return { act: 'relu6', alpha: 0 };
    if (mv === null || mv === undefined) return { act: 'relu', alpha: 0 };
    return undefined;
  }
  if (cls === 'LeakyReLU') return { act: 'leakyrelu', alpha: Number(cfg.alpha ?? 0.3) };
  return undefined;
}

/**
 * Plan the chain from the model input to `featureLayer` (inclusive), or return undefined when the model is not a
 * plain chain of supported layers.
 */
export function planFused(tf: Tf, model: LayersModel, featureLayer: string): FusedPlan | undefined {
  const layers = model.layers;
  const end = layers.findIndex((l) => l.name === featureLayer);
  if (end < 1) return undefined;
  // Must be a chain: each layer's single inbound layer is the previous one.
  for (let i = 1; i <= end; i++) {
    const nodes = (layers[i] as unknown as { inboundNodes: { inboundLayers: layers.Layer[] }[] }).inboundNodes;
    if (nodes.length !== 1 || nodes[0].inboundLayers.length !== 1 || nodes[0].inboundLayers[0] !== layers[i - 1]) return undefined;
  }
  if (layers[0].getClassName() !== 'InputLayer') return undefined;
  const steps: Step[] = [];
  const owned: TF.Tensor[] = [];
  let folded = 0;
  try {
    for (let i = 1; i <= end; i++) {
      const l = layers[i];
      const cls = l.getClassName();
      const cfg = l.getConfig() as Cfg;
      if (cls === 'ZeroPadding2D') {
        const p = cfg.padding as [[number, number], [number, number]] | number;
        const hw = typeof p === 'number' ? [[p, p], [p, p]] : p.map((x) => pair(x));
        steps.push({ kind: 'pad', paddings: [[0, 0], hw[0] as [number, number], hw[1] as [number, number], [0, 0]] });
      } else if (cls === 'Conv2D' || cls === 'DepthwiseConv2D') {
        if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') return disposeAll(owned);
        const depthwise = cls === 'DepthwiseConv2D';
        const w = l.getWeights();
        let kernel = w[0] as TF.Tensor4D;
        let bias = (cfg.useBias ? w[1] : undefined) as TF.Tensor1D | undefined;
        let act: Act = 'linear';
        let alpha = 0;
        const own = String(cfg.activation ?? 'linear');
        if (own !== 'linear') {
          if (own !== 'relu' && own !== 'relu6') return disposeAll(owned);
          act = own;
        }
        // Fold a following BatchNormalization (only when the conv itself is linear).
        const next = layers[i + 1];
        if (act === 'linear' && i + 1 <= end && next.getClassName() === 'BatchNormalization') {
          const bc = next.getConfig() as Cfg;
          const axis = bc.axis;
          if (!(axis === -1 || axis === 3 || (Array.isArray(axis) && (axis[0] === -1 || axis[0] === 3)))) return disposeAll(owned);
          const bw = next.getWeights();
          let k = 0;
          const gamma = bc.scale === false ? undefined : bw[k++];
          const beta = bc.center === false ? undefined : bw[k++];
          const mean = bw[k++];
          const variance = bw[k++];
          const eps = Number(bc.epsilon ?? 1e-3);
          const res = tf.tidy(() => {
            let s = tf.rsqrt(tf.add(variance, eps));
            if (gamma) s = tf.mul(s, gamma);
            const kshape = kernel.shape;
            const k2 = depthwise ? tf.mul(kernel, tf.reshape(s, [1, 1, kshape[2], kshape[3]])) : tf.mul(kernel, s);
            let b2 = tf.mul(tf.sub(bias ?? tf.zerosLike(mean), mean), s);
            if (beta) b2 = tf.add(b2, beta);
            return [k2, b2] as [TF.Tensor4D, TF.Tensor1D];
          });
          kernel = res[0];
          bias = res[1];
          owned.push(kernel, bias);
          folded++;
          i++;
        }
        // Fuse a following activation.
        if (act === 'linear' && i + 1 <= end) {
          const a = activationOf(layers[i + 1]);
          if (a) { act = a.act; alpha = a.alpha; i++; }
        }
        const strides = pair(cfg.strides);
        const dilations = pair(cfg.dilationRate ?? 1);
        const pad = cfg.padding === 'same' ? 'same' : cfg.padding === 'valid' ? 'valid' : undefined;
        if (!pad) return disposeAll(owned);
        if (depthwise && (cfg.depthMultiplier ?? 1) !== kernel.shape[3]) return disposeAll(owned);
        steps.push({ kind: 'conv', depthwise, filter: kernel, bias, strides, pad, dilations, act, alpha });
      } else if (cls === 'BatchNormalization') {
        return disposeAll(owned); // not after a conv: unsupported
      } else if (cls === 'Activation' || cls === 'ReLU' || cls === 'LeakyReLU') {
        const a = activationOf(l);
        if (!a) return disposeAll(owned);
        steps.push({ kind: 'act', ...a });
      } else if (cls === 'MaxPooling2D') {
        const pad = cfg.padding === 'same' ? 'same' : cfg.padding === 'valid' ? 'valid' : undefined;
        if (!pad) return disposeAll(owned);
        steps.push({ kind: 'maxpool', size: pair(cfg.poolSize), strides: pair(cfg.strides ?? cfg.poolSize), pad });
      } else if (cls === 'GlobalAveragePooling2D') {
        steps.push({ kind: 'gap' });
      } else if (cls === 'Dropout') {
        steps.push({ kind: 'identity' });
      } else {
        return disposeAll(owned);
      }
    }
  } catch {
    return disposeAll(owned);
  }
  const run = (x: TF.Tensor4D): TF.Tensor => {
    let t: TF.Tensor = x;
    for (const s of steps) {
      switch (s.kind) {
        case 'pad': t = tf.pad(t, s.paddings); break;
        case 'conv': {
          const args = { x: t as TF.Tensor4D, filter: s.filter, strides: s.strides, pad: s.pad, dilations: s.dilations, bias: s.bias, activation: s.act, leakyreluAlpha: s.alpha };
          t = s.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
          break;
        }
        case 'act': t = s.act === 'relu' ? tf.relu(t) : s.act === 'relu6' ? tf.relu6(t) : s.act === 'leakyrelu' ? tf.leakyRelu(t, s.alpha) : t; break;
        case 'maxpool': t = tf.maxPool(t as TF.Tensor4D, s.size, s.strides, s.pad); break;
        case 'gap': t = tf.mean(t, [1, 2]); break;
        case 'identity': break;
      }
    }
    return t;
  };
  return { run, dispose: () => { for (const t of owned) t.dispose(); }, folded };
}

function disposeAll(ts: TF.Tensor[]): undefined {
  for (const t of ts) t.dispose();
  return undefined;
}
