/**
 * The service's one error shape: every failed request answers
 * `{ "error": { "code": "…", "message": "…" } }` with the HTTP status of its code. The codes are
 * stable (clients branch on them); the message is one human sentence that never holds a stack
 * trace or a server path.
 *
 * @module
 */

/** Every error code the API answers with, and its HTTP status. */
export const ERROR_CODES = {
  bad_request: 400,
  invalid_json: 400,
  invalid_recipe: 400,
  invalid_input: 400,
  unknown_recipe: 404,
  path_escape: 400,
  image_too_large: 400,
  not_an_image: 400,
  duplicate_input: 400,
  root_not_configured: 400,
  unauthorized: 401,
  forbidden_host: 403,
  not_found: 404,
  job_not_found: 404,
  file_not_found: 404,
  job_finished: 409,
  job_active: 409,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
} as const;

/** A stable error code of the API. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error answered to the client as `{ error: { code, message } }`. */
export class ApiError extends Error {
  override name = "ApiError";
  /** The HTTP status of `code`. */
  readonly status: number;
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.status = ERROR_CODES[code];
  }
}

/** The JSON body of an error answer. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

/** The body for `error`. */
export function errorBody(error: ApiError): ErrorBody {
  return { error: { code: error.code, message: error.message } };
}
