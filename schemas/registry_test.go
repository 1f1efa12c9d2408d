package schemas

import (
	"io/fs"
	"testing"

	"ziett.co/campaigns/domain/events"
)

// The event registry and the schema files list the same events: a payload
// added without its schema, or a schema left behind by a removed event,
// fails here.
func TestEventRegistryMatchesSchemaFiles(t *testing.T) {
	files, err := fs.Glob(Events, "events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]bool{}
	for _, f := range files {
		onDisk[f[len("events/"):]] = true
	}
	for _, k := range events.Kinds() {
		if !onDisk[k.Schema()] {
			t.Errorf("%s v%d has no schema %s", k.Type, k.Version, k.Schema())
		}
		delete(onDisk, k.Schema())
	}
	for f := range onDisk {
		t.Errorf("schema %s describes no registered event", f)
	}
}
