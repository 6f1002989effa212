// The playground: a real editor that asks the server for a suggestion as you type, exactly as
// an editor plugin does (prompt = the code before the cursor, suffix = the code after it).
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  syntaxHighlighting,
} from "@codemirror/language";
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, highlightActiveLine, keymap, lineNumbers } from "@codemirror/view";

import { ApiError, KeyRequired, callApi, getJson, reportEvent, withKey } from "./api.js";
import { clearSuggestion, ghostText, showSuggestion } from "./ghost.js";
import { SAMPLES } from "./samples.js";

const LANGUAGES = {
  python: { label: "Python", support: () => python() },
  javascript: { label: "JavaScript", support: () => javascript() },
  typescript: { label: "TypeScript", support: () => javascript({ typescript: true }) },
  rust: { label: "Rust", support: () => rust() },
  go: { label: "Go", support: () => go() },
  java: { label: "Java", support: () => java() },
  cpp: { label: "C++", support: () => cpp() },
};
const DEBOUNCE_MS = 250;
const CURSOR_MARK = "|";

const elements = {
  editor: document.getElementById("editor"),
  language: document.getElementById("language"),
  maxTokens: document.getElementById("max-tokens"),
  model: document.getElementById("model"),
  status: document.getElementById("status"),
  latency: document.getElementById("latency"),
  tokens: document.getElementById("tokens"),
  why: document.getElementById("why"),
  whyBody: document.getElementById("why-body"),
};
const languageSupport = new Compartment();
let modelName = "";
let lastCompletionId = null;
let inFlight = null;
let timer = null;

function setStatus(text, kind = "") {
  elements.status.textContent = text;
  elements.status.className = kind;
}

function sampleDocument(language) {
  const sample = SAMPLES[language];
  const cursor = sample.indexOf(CURSOR_MARK);
  return { doc: sample.slice(0, cursor) + sample.slice(cursor + 1), cursor };
}

function scheduleSuggestion(view) {
  clearTimeout(timer);
  inFlight?.abort();
  timer = setTimeout(() => requestSuggestion(view), DEBOUNCE_MS);
}

async function requestSuggestion(view) {
  const selection = view.state.selection.main;
  if (!selection.empty) return;
  const doc = view.state.doc.toString();
  const pos = selection.head;
  const controller = new AbortController();
  inFlight = controller;
  const body = {
    model: modelName,
    prompt: doc.slice(0, pos),
    suffix: doc.slice(pos),
    max_tokens: Number(elements.maxTokens.value) || 64,
    temperature: 0,
    extra: { language: elements.language.value },
  };
  const started = performance.now();
  setStatus("asking the server…", "busy");
  try {
    const response = await callApi("/v1/completions", { body, signal: controller.signal });
    const result = await response.json();
    const elapsed = Math.round(performance.now() - started);
    if (view.state.doc.toString() !== doc || view.state.selection.main.head !== pos) return;
    const choice = result.choices[0] || { text: "", finish_reason: "stop" };
    elements.latency.textContent = `${elapsed} ms`;
    elements.tokens.textContent = `${result.usage?.completion_tokens ?? 0} tokens`;
    setStatus(choice.text ? `suggestion (${choice.finish_reason})` : "no suggestion here");
    lastCompletionId = result.id;
    if (choice.text) {
      view.dispatch({ effects: showSuggestion.of({ text: choice.text, pos, id: result.id }) });
      reportEvent("view", result.id);
    }
    if (elements.why.open) explainCompletion(result.id);
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error instanceof KeyRequired) setStatus("the server refused the key; reload the page", "error");
    else setStatus(error.message, "error");
  } finally {
    if (inFlight === controller) inFlight = null;
  }
}

function markSpecialTokens(text) {
  const pre = document.createElement("pre");
  for (const part of text.split(/(<\|[a-z_]+\|>|<fim[-_][a-z]+>|<BOS>)/)) {
    if (!part) continue;
    const span = document.createElement("span");
    if (/^<.*>$/.test(part) && part.length < 24) span.className = "special-token";
    span.textContent = part;
    pre.append(span);
  }
  return pre;
}

function explanationView(explanation) {
  const fragment = document.createDocumentFragment();
  const facts = document.createElement("dl");
  const prompt = explanation.prompts[0];
  const rows = [
    ["layout", prompt.layout],
    ["prompt tokens", `${prompt.tokens} of a budget of ${explanation.budget.prompt_tokens}`],
    ["trimmed to fit", prompt.trimmed ? "yes" : "no"],
    ["suffix share", `${Math.round(explanation.budget.suffix_share * 100)} % of a long prompt`],
    ["sent", `${explanation.sent.prompt_chars} characters before the cursor, ${explanation.sent.suffix_chars ?? 0} after`],
    ["language", explanation.language],
    ["ranked against a left-to-right suggestion", prompt.ranked_with_left_to_right ? "yes" : "no"],
  ];
  if (prompt.healed_text) rows.push(["token healing", JSON.stringify(prompt.healed_text)]);
  for (const [name, value] of rows) {
    const term = document.createElement("dt");
    term.textContent = name;
    const detail = document.createElement("dd");
    detail.textContent = value;
    facts.append(term, detail);
  }
  fragment.append(facts, markSpecialTokens(prompt.text));
  return fragment;
}

async function explainCompletion(completionId) {
  if (!completionId) {
    elements.whyBody.textContent = "Type in the editor: the prompt of the next suggestion shows here.";
    return;
  }
  try {
    const explanation = await getJson(`/v1/completions/${encodeURIComponent(completionId)}/prompt`);
    elements.whyBody.replaceChildren(explanationView(explanation));
  } catch (error) {
    elements.whyBody.textContent =
      error instanceof ApiError ? error.message : `could not read the prompt: ${error.message}`;
  }
}

function createEditor() {
  const language = elements.language.value;
  const { doc, cursor } = sampleDocument(language);
  const view = new EditorView({
    parent: elements.editor,
    state: EditorState.create({
      doc,
      selection: { anchor: cursor },
      extensions: [
        ghostText({
          onAccept: (suggestion) => {
            reportEvent("select", suggestion.id);
            setStatus("accepted");
          },
          onDismiss: (suggestion) => {
            reportEvent("dismiss", suggestion.id);
            setStatus("dismissed");
          },
        }),
        lineNumbers(),
        highlightActiveLine(),
        history(),
        indentOnInput(),
        bracketMatching(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        languageSupport.of(LANGUAGES[language].support()),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.updateListener.of((update) => {
          if (update.docChanged && update.transactions.some((t) => t.isUserEvent("input") || t.isUserEvent("delete"))) {
            scheduleSuggestion(update.view);
          }
        }),
      ],
    }),
  });
  return view;
}

function switchLanguage(view, language) {
  const untouched = Object.keys(SAMPLES).some(
    (name) => sampleDocument(name).doc === view.state.doc.toString(),
  );
  const effects = [languageSupport.reconfigure(LANGUAGES[language].support()), clearSuggestion.of(null)];
  if (untouched) {
    const { doc, cursor } = sampleDocument(language);
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc }, selection: { anchor: cursor }, effects });
  } else {
    view.dispatch({ effects });
  }
  view.focus();
}

async function start() {
  for (const [id, { label }] of Object.entries(LANGUAGES)) {
    elements.language.append(new Option(label, id));
  }
  const models = await withKey(() => getJson("/v1/models"));
  modelName = models.data[0]?.id || "";
  elements.model.textContent = modelName;
  const view = createEditor();
  elements.language.addEventListener("change", () => switchLanguage(view, elements.language.value));
  elements.why.addEventListener("toggle", () => elements.why.open && explainCompletion(lastCompletionId));
  view.focus();
  setStatus("ready: type in the editor");
  document.body.dataset.ready = "true";
}

start().catch((error) => setStatus(`could not start: ${error.message}`, "error"));
