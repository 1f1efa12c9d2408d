// Package schemas holds the service's contracts: SQL migrations, the
// OpenAPI document and the JSON Schemas of events, embedded so the binary
// carries them.
package schemas

import "embed"

//go:embed migrations/*.sql
var Migrations embed.FS

// Events holds one JSON Schema per event type and version, named
// <Type>.v<N>.json; tests check every produced event against its schema.
//
//go:embed events/*.json
var Events embed.FS

// OpenAPI holds the REST API's OpenAPI 3.1 document in parts: openapi.json
// has what is shared (info, security, the error envelope), and each file of
// openapi/ adds a group of endpoints with the components they use, so an
// endpoint's contract is added without editing anyone else's file. The
// httpapi package assembles and serves the whole.
//
//go:embed openapi.json openapi/*.json
var OpenAPI embed.FS
