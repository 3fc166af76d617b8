/**
 * `GET /v1/openapi.json`: the OpenAPI 3.1 document of the API, generated from the zod schemas of
 * service/schemas.ts and the recipe JSON Schema (the same schemas that check requests and
 * recipes), so the document cannot drift from what the server accepts.
 *
 * @module
 */
import { z } from "zod";
import { ERROR_CODES } from "./errors.ts";
import { API_SCHEMAS } from "./schemas.ts";

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string) => ({ content: { "application/json": { schema: ref(id) } } });

/** The error answers of an operation, by status, each listing the codes it may carry. */
function errors(...codes: (keyof typeof ERROR_CODES)[]): Record<string, unknown> {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const status = ERROR_CODES[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      { description: `error.code: ${list.join(", ")}`, ...json("Error") },
    ]),
  );
}

const idParam = { name: "id", in: "path", required: true, schema: { type: "string" } };

/** The OpenAPI document; `recipeSchema` is the recipe documents' JSON Schema. */
export function openApiDocument(
  recipeSchema: Readonly<Record<string, unknown>>,
  version: string,
): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(API_SCHEMAS, {
    uri: (id) => `#/components/schemas/${id}`,
    io: "input",
    unrepresentable: "any",
  });
  const components: Record<string, unknown> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema as Record<string, unknown>;
    components[id] = rest;
  }
  const { $schema: _s, $id: _i, ...recipe } = recipeSchema;
  components.Recipe = recipe;
  const auth = [{ bearer: [] }];
  const common = errors("unauthorized", "forbidden_host", "internal");
  return {
    openapi: "3.1.0",
    info: {
      title: "dipline",
      version,
      description: "Deep Image Prior restorations as queued jobs: submit a recipe and images, " +
        "follow progress over Server-Sent Events, fetch the outputs.",
    },
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
    security: auth,
    paths: {
      "/v1/jobs": {
        post: {
          summary: "Submit a job",
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: ref("CreateJob") },
              "multipart/form-data": {
                schema: {
                  type: "object",
                  properties: {
                    recipe: { type: "string", description: "A recipe name, or a JSON recipe" },
                    runOptions: { type: "string", description: "RunOptions as JSON text" },
                    webhook: { type: "string" },
                    paths: { type: "array", items: { type: "string" } },
                    images: { type: "array", items: { type: "string", format: "binary" } },
                  },
                  required: ["recipe"],
                },
              },
            },
          },
          responses: {
            "201": { description: "The job, queued", ...json("Job") },
            ...errors(
              "bad_request",
              "invalid_json",
              "invalid_recipe",
              "invalid_input",
              "path_escape",
              "image_too_large",
              "not_an_image",
              "duplicate_input",
              "root_not_configured",
              "unknown_recipe",
              "payload_too_large",
              "unsupported_media_type",
            ),
            ...common,
          },
        },
        get: {
          summary: "List jobs, newest first",
          parameters: [
            { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100 } },
            { name: "cursor", in: "query", schema: { type: "string" } },
            { name: "status", in: "query", schema: { type: "string" } },
          ],
          responses: { "200": { description: "A page", ...json("JobPage") }, ...common },
        },
      },
      "/v1/jobs/{id}": {
        get: {
          summary: "A job: status, progress, results, errors, timings",
          parameters: [idParam],
          responses: {
            "200": { description: "The job", ...json("Job") },
            ...errors("job_not_found"),
            ...common,
          },
        },
        delete: {
          summary: "Remove a finished job and its files",
          parameters: [idParam],
          responses: {
            "204": { description: "Removed" },
            ...errors("job_not_found", "job_active"),
            ...common,
          },
        },
      },
      "/v1/jobs/{id}/cancel": {
        post: {
          summary: "Cancel: a queued job at once, a running fit at its next check",
          parameters: [idParam],
          responses: {
            "200": { description: "The job after the request", ...json("Job") },
            ...errors("job_not_found", "job_finished"),
            ...common,
          },
        },
      },
      "/v1/jobs/{id}/events": {
        get: {
          summary:
            "Server-Sent Events of the job; Last-Event-ID (or ?after=) replays what was missed",
          parameters: [
            idParam,
            { name: "Last-Event-ID", in: "header", schema: { type: "string" } },
            { name: "after", in: "query", schema: { type: "integer" } },
          ],
          responses: {
            "200": {
              description: "text/event-stream; each data line is a JSON event with jobId and type",
              content: { "text/event-stream": { schema: { type: "string" } } },
            },
            ...errors("job_not_found"),
            ...common,
          },
        },
      },
      "/v1/jobs/{id}/files/{name}": {
        get: {
          summary: "An output file of the job",
          parameters: [idParam, {
            name: "name",
            in: "path",
            required: true,
            schema: { type: "string" },
          }],
          responses: {
            "200": { description: "The image", content: { "image/png": {}, "image/jpeg": {} } },
            ...errors("job_not_found", "file_not_found", "path_escape"),
            ...common,
          },
        },
      },
      "/v1/health": {
        get: {
          summary: "Liveness (no token needed)",
          security: [],
          responses: { "200": { description: "Up", ...json("Health") } },
        },
      },
      "/v1/openapi.json": {
        get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } },
      },
    },
  };
}
