/** A WAV image of a 440 Hz tone in any PCM layout (tests of what the service accepts as a prompt). */
export function toneWav(o: { rate?: number; channels?: number; bits?: 8 | 16 | 24; seconds?: number; formatTag?: number } = {}): Buffer {
  const rate = o.rate ?? 8000;
  const channels = o.channels ?? 1;
  const bits = o.bits ?? 16;
  const frames = Math.round(rate * (o.seconds ?? 1));
  const bytes = bits / 8;
  const data = Buffer.alloc(frames * channels * bytes);
  for (let i = 0; i < frames; i++) {
    const v = Math.sin((2 * Math.PI * 440 * i) / rate) * 0.3;
    for (let c = 0; c < channels; c++) {
      const off = (i * channels + c) * bytes;
      if (bits === 8) data.writeUInt8(Math.round(128 + v * 127), off);
      else if (bits === 16) data.writeInt16LE(Math.round(v * 32767), off);
      else data.writeIntLE(Math.round(v * 8388607), off, 3);
    }
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(o.formatTag ?? 1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * bytes, 28);
  h.writeUInt16LE(channels * bytes, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
