/** SVG primitives the benchmark charts are drawn with. */

export function text(
  x: number,
  y: number,
  content: string,
  size: number,
  weight = 'normal',
  fill = '#111',
  anchor: 'start' | 'middle' | 'end' = 'start',
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" font-weight="${weight}" fill="${fill}" text-anchor="${anchor}">${escapeXml(content)}</text>`;
}

export function escapeXml(value: string): string {
  return value.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
