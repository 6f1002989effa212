// Ghost text: the server's suggestion shown greyed at the cursor, as editor plugins do.
// Tab inserts it, Esc dismisses it; typing its first characters keeps the rest on show.
import { EditorSelection, Prec, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, WidgetType, keymap } from "@codemirror/view";

// value: { text, pos, id } (id: the completion's, for the acceptance events)
export const showSuggestion = StateEffect.define();
export const clearSuggestion = StateEffect.define();

class GhostWidget extends WidgetType {
  constructor(text) {
    super();
    this.text = text;
  }

  eq(other) {
    return other.text === this.text;
  }

  toDOM() {
    const span = document.createElement("span");
    span.className = "cm-ghost";
    span.textContent = this.text;
    return span;
  }

  ignoreEvent() {
    return true;
  }
}

// The suggestion after a transaction that typed its start, or null when it no longer applies.
function typedAlong(suggestion, transaction) {
  let inserted = null;
  let applies = true;
  transaction.changes.iterChanges((fromA, toA, _fromB, _toB, text) => {
    if (inserted !== null || fromA !== suggestion.pos || toA !== fromA) applies = false;
    else inserted = text.toString();
  });
  if (!applies || !inserted || !suggestion.text.startsWith(inserted)) return null;
  if (inserted.length === suggestion.text.length) return null;
  return {
    ...suggestion,
    text: suggestion.text.slice(inserted.length),
    pos: suggestion.pos + inserted.length,
  };
}

export const suggestionField = StateField.define({
  create: () => null,
  update(suggestion, transaction) {
    for (const effect of transaction.effects) {
      if (effect.is(showSuggestion)) return effect.value;
      if (effect.is(clearSuggestion)) return null;
    }
    if (!suggestion) return null;
    if (transaction.docChanged) return typedAlong(suggestion, transaction);
    if (transaction.state.selection.main.head !== suggestion.pos) return null;
    return suggestion;
  },
  provide: (field) =>
    EditorView.decorations.from(field, (suggestion) =>
      suggestion
        ? Decoration.set([
            Decoration.widget({ widget: new GhostWidget(suggestion.text), side: 1 }).range(
              suggestion.pos,
            ),
          ])
        : Decoration.none,
    ),
});

export function ghostText({ onAccept, onDismiss }) {
  const accept = (view) => {
    const suggestion = view.state.field(suggestionField);
    if (!suggestion) return false;
    view.dispatch({
      changes: { from: suggestion.pos, insert: suggestion.text },
      selection: EditorSelection.cursor(suggestion.pos + suggestion.text.length),
      effects: clearSuggestion.of(null),
      userEvent: "input.complete",
    });
    onAccept(suggestion);
    return true;
  };
  const dismiss = (view) => {
    const suggestion = view.state.field(suggestionField);
    if (!suggestion) return false;
    view.dispatch({ effects: clearSuggestion.of(null) });
    onDismiss(suggestion);
    return true;
  };
  return [
    suggestionField,
    Prec.highest(
      keymap.of([
        { key: "Tab", run: accept },
        { key: "Escape", run: dismiss },
      ]),
    ),
  ];
}
