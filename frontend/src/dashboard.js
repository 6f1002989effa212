// The dashboard: what the server is doing, refreshed every few seconds from /v1/dashboard
// (the same counters /metrics serves). Keys are shown by their label, never themselves.
import { getJson, withKey } from "./api.js";
import { drawChart } from "./chart.js";

const REFRESH_MS = 2000;

const seconds = (value) => (value == null ? "–" : value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(2)} s`);
const count = (value) => (value == null ? "–" : Math.round(value).toLocaleString());
const ratio = (value) => (value == null ? "–" : `${(value * 100).toFixed(1)} %`);
const rate = (value) => (value == null ? "–" : value.toFixed(1));

function setText(id, text) {
  const node = document.getElementById(id);
  if (node) node.textContent = text;
}

function fillTable(id, rows, columns) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      for (const [key, format] of columns) {
        const td = document.createElement("td");
        td.textContent = format(row[key]);
        tr.append(td);
      }
      return tr;
    }),
  );
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = columns.length;
    td.textContent = "nothing yet";
    tr.append(td);
    body.append(tr);
  }
}

function render(data) {
  const { server, engine, totals, last_hour: hour, series } = data;
  setText("model", server.model_file ? `${server.model} (${server.model_file})` : server.model);
  setText("build", `fauxpilot ${server.version} · Python ${server.python}` + (server.llama_cpp_python ? ` · llama-cpp-python ${server.llama_cpp_python}` : ""));
  setText("engine-status", engine.status + (engine.detail ? `: ${engine.detail}` : ""));
  document.getElementById("engine-status").className = engine.status === "ok" ? "good" : "bad";
  setText("restarts", count(engine.restarts));
  setText("slots", `${engine.slots_busy} busy / ${engine.slots_free} free`);
  setText("queue", count(engine.queue_depth));
  setText("requests", count(totals.requests));
  setText("requests-per-minute", rate(hour.requests_per_minute));
  setText("tokens-per-second", rate(series.length ? series[series.length - 1].tokens_per_second : null));
  setText("ttft", `${seconds(hour.ttft_p50)} / ${seconds(hour.ttft_p90)}`);
  setText("latency", `${seconds(hour.latency_p50)} / ${seconds(hour.latency_p90)}`);
  setText("cache-hit", ratio(totals.cache_hit_ratio));
  setText("typeahead", count(totals.typeahead_hits));
  setText("refused", `${count(totals.status_429)} / ${count(totals.status_503)}`);
  setText("completion-tokens", count(totals.completion_tokens));
  drawChart(document.getElementById("chart-requests"), series, [{ key: "requests_per_minute", className: "first" }], rate);
  drawChart(document.getElementById("chart-ttft"), series, [
    { key: "ttft_p50", className: "first" },
    { key: "ttft_p90", className: "second" },
  ], seconds);
  drawChart(document.getElementById("chart-latency"), series, [
    { key: "latency_p50", className: "first" },
    { key: "latency_p90", className: "second" },
  ], seconds);
  drawChart(document.getElementById("chart-tokens"), series, [{ key: "tokens_per_second", className: "first" }], rate);
  fillTable("keys", data.keys, [
    ["key", String],
    ["requests", count],
    ["prompt_tokens", count],
    ["completion_tokens", count],
    ["view", count],
    ["select", count],
    ["acceptance", ratio],
  ]);
  fillTable("languages", data.languages, [
    ["language", String],
    ["view", count],
    ["select", count],
    ["dismiss", count],
    ["acceptance", ratio],
  ]);
  setText("updated", new Date(data.time * 1000).toLocaleTimeString());
  document.body.dataset.ready = "true";
}

async function refresh() {
  try {
    render(await withKey(() => getJson("/v1/dashboard")));
    setText("error", "");
  } catch (error) {
    setText("error", `could not read the server's figures: ${error.message}`);
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
