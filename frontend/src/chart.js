// A small SVG line chart: one line per series over time, the y axis from 0 to the largest value.
const WIDTH = 560;
const HEIGHT = 150;
const MARGIN = { left: 48, right: 8, top: 8, bottom: 20 };
const SVG = "http://www.w3.org/2000/svg";
const WINDOW_SECONDS = 3600;

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function clockTime(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// points: [{end, key1, key2...}], lines: [{key, label, className}], format: value -> text
export function drawChart(svg, points, lines, format) {
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.replaceChildren();
  const values = points.flatMap((point) => lines.map((line) => point[line.key])).filter((v) => v != null);
  const top = Math.max(...values, 0) || 1;
  // Always the whole hour, the newest minute at the right: a new server's points start there.
  const last = points.length ? points[points.length - 1].end : Date.now() / 1000;
  const first = last - WINDOW_SECONDS;
  const span = WINDOW_SECONDS;
  const x = (time) => MARGIN.left + ((time - first) / span) * (WIDTH - MARGIN.left - MARGIN.right);
  const y = (value) => HEIGHT - MARGIN.bottom - (value / top) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  svg.append(
    element("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(0), y2: y(0), class: "axis" }),
    element("text", { x: MARGIN.left - 4, y: y(top) + 10, class: "tick", "text-anchor": "end" }, format(top)),
    element("text", { x: MARGIN.left - 4, y: y(0), class: "tick", "text-anchor": "end" }, format(0)),
  );
  svg.append(
    element("text", { x: MARGIN.left, y: HEIGHT - 4, class: "tick" }, clockTime(first)),
    element("text", { x: WIDTH - MARGIN.right, y: HEIGHT - 4, class: "tick", "text-anchor": "end" }, clockTime(last)),
  );
  for (const line of lines) {
    const shown = points.filter((point) => point[line.key] != null);
    const coordinates = shown.map((point) => [x(point.end).toFixed(1), y(point[line.key]).toFixed(1)]);
    svg.append(element("polyline", { points: coordinates.map((c) => c.join(",")).join(" "), class: `line ${line.className}` }));
    // Dots too: the first minutes have a single point, which a line cannot show.
    for (const [cx, cy] of coordinates) svg.append(element("circle", { cx, cy, r: 3, class: `dot ${line.className}` }));
  }
}
