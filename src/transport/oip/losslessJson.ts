/**
 * JSON.parse that keeps integer literals outside the safe-integer range exact: such a literal
 * (no fraction, no exponent) becomes a bigint; every other value is what JSON.parse gives.
 * Used only when an INT64/UINT64 tensor holds values JSON.parse would round.
 *
 * Iterative (no recursion), so nesting depth cannot overflow the stack. Callers pass text that
 * JSON.parse already accepted; anything else still throws a SyntaxError.
 */

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

interface Frame {
  container: unknown[] | Record<string, unknown>;
  isArray: boolean;
  key: string | undefined;
}

function put(frame: Frame, value: unknown): void {
  if (frame.isArray) {
    (frame.container as unknown[]).push(value);
  } else {
    // defineProperty, not assignment: a "__proto__" key must become an own property, as in JSON.parse.
    Object.defineProperty(frame.container, frame.key as string, { value, writable: true, enumerable: true, configurable: true });
    frame.key = undefined;
  }
}

export function parseJsonLossless(text: string): unknown {
  const n = text.length;
  let i = 0;
  const stack: Frame[] = [];
  let root: unknown;
  let haveRoot = false;

  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${i}`);
  };
  const skipWs = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const readString = (): string => {
    const start = i; // at the opening quote
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return JSON.parse(text.slice(start, i)) as string;
      }
      i += c === 0x5c ? 2 : 1;
    }
    return fail("unterminated string");
  };
  const emit = (value: unknown): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (haveRoot) fail("unexpected value");
      root = value;
      haveRoot = true;
    } else {
      put(top, value);
    }
  };

  skipWs();
  while (i < n) {
    const top = stack[stack.length - 1];
    const c = text[i];
    if (top !== undefined && !top.isArray && top.key === undefined) {
      // expecting a key or the end of the object
      if (c === "}") {
        i++;
        stack.pop();
        emit(top.container);
      } else if (c === '"') {
        top.key = readString();
        skipWs();
        if (text[i] !== ":") fail("expected ':'");
        i++;
      } else if (c === ",") {
        i++;
      } else {
        fail("unexpected character in object");
      }
      skipWs();
      continue;
    }
    switch (c) {
      case "{":
        i++;
        stack.push({ container: {}, isArray: false, key: undefined });
        break;
      case "[":
        i++;
        stack.push({ container: [], isArray: true, key: undefined });
        break;
      case "]": {
        i++;
        const f = stack.pop();
        if (f === undefined || !f.isArray) fail("unexpected ']'");
        emit(f?.container);
        break;
      }
      case ",":
        if (top === undefined) fail("unexpected ','");
        i++;
        break;
      case '"':
        emit(readString());
        break;
      case "t":
        if (text.startsWith("true", i)) {
          i += 4;
          emit(true);
        } else fail("unexpected token");
        break;
      case "f":
        if (text.startsWith("false", i)) {
          i += 5;
          emit(false);
        } else fail("unexpected token");
        break;
      case "n":
        if (text.startsWith("null", i)) {
          i += 4;
          emit(null);
        } else fail("unexpected token");
        break;
      default: {
        NUMBER.lastIndex = i;
        const m = NUMBER.exec(text);
        if (m === null) return fail("unexpected token");
        const lit = m[0];
        i += lit.length;
        if (m[1] === undefined && m[2] === undefined) {
          const v = Number(lit);
          emit(Number.isSafeInteger(v) ? v : BigInt(lit));
        } else {
          emit(Number(lit));
        }
      }
    }
    skipWs();
  }
  if (stack.length !== 0 || !haveRoot) fail("unexpected end of JSON");
  return root;
}
