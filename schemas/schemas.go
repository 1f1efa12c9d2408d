// Package schemas holds the service's contracts: SQL migrations, the
// OpenAPI document and the JSON Schemas of events, embedded so the binary
// carries them.
package schemas

import "embed"

//go:embed migrations/*.sql
var Migrations embed.FS
