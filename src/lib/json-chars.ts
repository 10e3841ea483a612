/** Character codes of JSON's structural and white-space characters: the scans compare numbers, never strings. */
export const TAB = 9;
export const LF = 10;
export const CR = 13;
export const SPACE = 32;
export const QUOTE = 34;
export const COMMA = 44;
export const COLON = 58;
export const OPEN = 123; // {
export const CLOSE = 125; // }
export const OPEN_ARR = 91; // [
export const CLOSE_ARR = 93; // ]
export const BACKSLASH = 92;
