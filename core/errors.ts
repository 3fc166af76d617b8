/**
 * The one error shape of dipline: a message that names the file (or op) and the reason.
 *
 * @module
 */

/** An input the user gave is wrong (a file that is not an image, a bad flag value). */
export class InputError extends Error {
  override name = "InputError";
  /** The file (or source) the error is about, if any. */
  readonly file?: string;
  constructor(message: string, options?: { file?: string; cause?: unknown }) {
    super(options?.file ? `${options.file}: ${message}` : message, { cause: options?.cause });
    this.file = options?.file;
  }
}

/** A recipe is wrong (an op reads a slot nobody wrote, an option out of range). */
export class RecipeError extends Error {
  override name = "RecipeError";
}

/** The caller's options are wrong (a bad command-line flag, a bad benchmark option): exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
