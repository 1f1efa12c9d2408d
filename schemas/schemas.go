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
