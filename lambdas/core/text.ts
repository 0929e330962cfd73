/**
 * Free text that crosses an edge (operator reasons, annotations, who asked) and values echoed in
 * error messages. Pure. Three rules: text that controls a terminal is never stored as given nor
 * printed raw; a message names a user-supplied value once, shortened; an operator who types a
 * control character is told where it is, not shown it.
 */

/**
 * Characters that steer a terminal or reorder what it shows: C0 controls (tab, newline and
 * carriage return included), DEL, C1 controls, and the Unicode bidirectional embeddings,
 * overrides and isolates ("Trojan Source").
 */
const CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

/**
 * Everything escaped when text is printed: the controls above, the line and paragraph separators,
 * the bidi marks, and lone surrogates (invalid UTF-16 that a terminal renders unpredictably).
 */
const NON_PRINTABLE = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\p{Cs}/gu;

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `\n`, `\x1b`, `\u202e`: the escape a reader can type back, for one non-printable character. */
function escapeOne(ch: string): string {
  const short = SHORT_ESCAPES[ch];
  if (short) return short;
  const code = ch.codePointAt(0) ?? 0;
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every non-printable character escaped (`\n`, `\x1b`, `\u202e`): safe on a terminal. */
export function printable(text: string): string {
  return text.replace(NON_PRINTABLE, escapeOne);
}

/** How many characters of a user-supplied value a message shows: a full image reference with tag and digest fits. */
export const SHOWN_CHARACTERS = 120;

/**
 * A user-supplied value as a message shows it: printable, and cut after {@link SHOWN_CHARACTERS}
 * characters with its length, e.g. `ghcr.io/aaaa…(10000 chars)`, so a huge value costs one line.
 */
export function shorten(value: string, max = SHOWN_CHARACTERS): string {
  const chars = [...value];
  if (chars.length <= max) return printable(value);
  return `${printable(chars.slice(0, max).join(''))}…(${chars.length} chars)`;
}

/** `'value'`, shortened and printable: how an error message names what it was given. */
export function quote(value: string): string {
  return `'${shorten(value)}'`;
}

/** Names of the control characters an operator is most likely to paste by accident. */
const CONTROL_NAMES: Readonly<Record<number, string>> = {
  0: 'NUL',
  7: 'BEL',
  8: 'BACKSPACE',
  9: 'TAB',
  10: 'NEWLINE',
  13: 'CARRIAGE RETURN',
  27: 'ESC',
  127: 'DEL',
  155: 'CSI',
  8238: 'RIGHT-TO-LEFT OVERRIDE',
};

/**
 * Why `text` cannot be taken as is, or undefined when it can: names the first control character
 * by code point and position, never by printing it.
 */
export function controlCharacterProblem(text: string): string | undefined {
  let position = 0;
  for (const ch of text) {
    position += 1;
    if (CONTROL.test(ch)) {
      const code = ch.codePointAt(0) ?? 0;
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      const name = CONTROL_NAMES[code];
      return `contains a control character (U+${hex}${name ? ` ${name}` : ''}) at character ${position}`;
    }
  }
  return undefined;
}

/**
 * Free text as the guardian stores it: tabs, newlines and carriage returns become single spaces
 * (a reason is one line in history and in the change-cause annotation) and any other control
 * character is kept visibly escaped (`\x1b`). Never refuses: an automatic rollback must not fail
 * because of the words that explain it.
 */
export function storableText(text: string): string {
  return printable(text.replace(/[\t\n\r]+/g, ' '));
}

/**
 * JSON with object keys sorted and undefined members left out, so equal values give equal text
 * whatever order their keys were written in (pod templates compared or hashed).
 */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
