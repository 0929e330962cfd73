import { describe, expect, it } from 'vitest';
import {
  controlCharacterProblem,
  printable,
  quote,
  SHOWN_CHARACTERS,
  shorten,
  storableText,
} from '../../lambdas/core/text.ts';
import { deployInputSchema, rollbackInputSchema } from '../../lambdas/core/types.ts';

/** Every character a terminal acts on, one of each kind. */
const HOSTILE = [
  '\u0000',
  '\u0007',
  '\b',
  '\t',
  '\n',
  '\r',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u2028',
  '\u2029',
  '\u202e',
  '\u2066',
  '\u200f',
  '\ud800',
];

/** True when `text` holds a character a terminal would act on instead of showing. */
const hasRaw = (text: string) =>
  /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\p{Cs}/u.test(text);

describe('printable', () => {
  it.each(HOSTILE)('escapes U+%s so a terminal shows it instead of acting on it', (ch) => {
    const out = printable(`a${ch}b`);
    expect(hasRaw(out)).toBe(false);
    expect(out).toMatch(/^a\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[ntr])b$/);
  });

  it('leaves ordinary text, accents, CJK and emoji alone', () => {
    const text = 'Incident 7 — rollback by Zoë 回滚 🚀 👩‍💻';
    expect(printable(text)).toBe(text);
  });

  it('writes the escapes an operator can read back', () => {
    expect(printable('a\nb\tc\u001b[31md\u202e')).toBe('a\\nb\\tc\\x1b[31md\\u202e');
  });
});

describe('shorten and quote', () => {
  it('names a short value whole', () => {
    expect(quote('ghcr.io/buywhere/buywhere-api:v1.2.3')).toBe("'ghcr.io/buywhere/buywhere-api:v1.2.3'");
  });

  it('cuts a huge value after the first characters and says how long it was', () => {
    const huge = 'a'.repeat(10_000);
    expect(shorten(huge)).toBe(`${'a'.repeat(SHOWN_CHARACTERS)}…(10000 chars)`);
    expect(quote(huge).length).toBeLessThan(SHOWN_CHARACTERS + 20);
  });

  it('never cuts a character in half, and escapes what it shows', () => {
    const emoji = '🚀'.repeat(SHOWN_CHARACTERS + 1);
    expect(shorten(emoji)).toBe(`${'🚀'.repeat(SHOWN_CHARACTERS)}…(${SHOWN_CHARACTERS + 1} chars)`);
    expect(shorten(`x\u001b${'y'.repeat(200)}`, 3)).toBe('x\\x1by…(202 chars)');
  });
});

describe('controlCharacterProblem', () => {
  it('accepts plain text', () => {
    expect(controlCharacterProblem('Emergency rollback due to high error rate')).toBeUndefined();
    expect(controlCharacterProblem('Zoë 回滚 🚀')).toBeUndefined();
  });

  it.each([
    ['bad\u001b[31m', 'U+001B ESC', 4],
    ['two\nlines', 'U+000A NEWLINE', 4],
    ['tab\there', 'U+0009 TAB', 4],
    ['🚀\u009b', 'U+009B CSI', 2],
    ['\u202eevil', 'U+202E RIGHT-TO-LEFT OVERRIDE', 1],
    ['x\u0001', 'U+0001', 2],
  ])('names the control character in %j by code point and position', (text, name, position) => {
    expect(controlCharacterProblem(text)).toBe(
      `contains a control character (${name}) at character ${position}`,
    );
  });
});

describe('storableText', () => {
  it('keeps a reason on one line and escapes other controls', () => {
    expect(storableText('line one\r\nline two\tend')).toBe('line one line two end');
    expect(storableText('red \u001b[31malert\u009b')).toBe('red \\x1b[31malert\\x9b');
  });
});

describe('free text at the workflow edge', () => {
  it('stores a rollback reason and annotation without raw controls, whoever sent them', () => {
    const input = rollbackInputSchema.parse({
      environment: 'staging',
      reason: 'high error rate\n\u001b[2J cleared',
      annotate: 'see\u202eincident',
      requestedBy: 'ops\u0007bot',
    });
    expect(input.reason).toBe('high error rate \\x1b[2J cleared');
    expect(input.annotate).toBe('see\\u202eincident');
    expect(input.requestedBy).toBe('ops\\x07bot');
  });

  it('never refuses an automatic rollback for the text of its reason', () => {
    const cause = JSON.stringify({
      errorType: 'HealthCheckFailedError',
      errorMessage: 'body: \u001b[31m503',
    });
    const input = rollbackInputSchema.parse({
      environment: 'staging',
      reason: `${cause}\n`,
      trigger: 'deploy-failure',
    });
    expect(hasRaw(input.reason)).toBe(false);
  });

  it('stores who asked for a deployment without raw controls, and refuses a CI link with any', () => {
    const base = { environment: 'staging', image: 'ghcr.io/buywhere/buywhere-api:v1.0.0' };
    expect(deployInputSchema.parse({ ...base, requestedBy: 'rex\n\u001b]0;pwned\u0007' }).requestedBy).toBe(
      'rex \\x1b]0;pwned\\x07',
    );
    expect(
      deployInputSchema.safeParse({
        ...base,
        requestedBy: 'ci',
        ciRunUrl: 'https://ci.example/runs/7\u001b[31m',
      }).success,
    ).toBe(false);
    expect(
      deployInputSchema.safeParse({ ...base, requestedBy: 'ci', ciRunUrl: 'https://ci.example/runs/7' })
        .success,
    ).toBe(true);
  });
});
