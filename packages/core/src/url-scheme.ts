/** RFC 3986's scheme: a letter, then letters, digits, "+", "-" or ".". */
const LEADING_SCHEME = /^([a-z][a-z0-9+.-]*):/i;
const LOWER_CASE_SCHEME = /^[a-z][a-z0-9+.-]*$/;

/** The scheme `text` starts with, as written (without ":"), or undefined where it starts with none. */
export function leadingScheme(text: string): string | undefined {
  return LEADING_SCHEME.exec(text)?.[1];
}

/** True if `scheme` (without ":") is a URL scheme in lower case, the form drivers register. */
export function isLowerCaseScheme(scheme: string): boolean {
  return LOWER_CASE_SCHEME.test(scheme);
}
