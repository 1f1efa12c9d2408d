package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"reflect"
	"sort"
	"sync"

	"ziett.co/campaigns/schemas"
)

// OpenAPI returns the API's OpenAPI document: schemas/openapi.json with
// every part of schemas/openapi/ merged in. A part holds "paths",
// "webhooks" (the requests the service sends), "components" and "tags";
// two parts may share a path but not a method of it, may not both define
// a webhook, and may share a component only if they define it identically, so a
// clash is an error here (and in the tests), never a silent overwrite.
func OpenAPI() ([]byte, error) {
	specOnce.Do(func() { specDoc, specErr = assembleOpenAPI(schemas.OpenAPI) })
	return specDoc, specErr
}

var (
	specOnce sync.Once
	specDoc  []byte
	specErr  error
)

func assembleOpenAPI(fsys fs.FS) ([]byte, error) {
	var doc map[string]any
	if err := readJSON(fsys, "openapi.json", &doc); err != nil {
		return nil, err
	}
	parts, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(parts)
	paths := object(doc, "paths")
	components := object(doc, "components")
	tags, _ := doc["tags"].([]any)
	for _, name := range parts {
		var part map[string]any
		if err := readJSON(fsys, name, &part); err != nil {
			return nil, err
		}
		for key := range part {
			if key != "paths" && key != "webhooks" && key != "components" && key != "tags" {
				return nil, fmt.Errorf("%s: unexpected member %q (a part has paths, webhooks, components and tags)", name, key)
			}
		}
		for path, item := range object(part, "paths") {
			ops, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: path %s is not an object", name, path)
			}
			have := object(paths, path)
			for method, op := range ops {
				if _, dup := have[method]; dup {
					return nil, fmt.Errorf("%s: %s %s is already defined by another part", name, method, path)
				}
				have[method] = op
			}
		}
		if hooks, ok := part["webhooks"].(map[string]any); ok {
			have := object(doc, "webhooks")
			for k, v := range hooks {
				if _, dup := have[k]; dup {
					return nil, fmt.Errorf("%s: webhook %s is already defined by another part", name, k)
				}
				have[k] = v
			}
		}
		for section, defs := range object(part, "components") {
			m, ok := defs.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: components.%s is not an object", name, section)
			}
			have := object(components, section)
			for k, v := range m {
				if old, dup := have[k]; dup && !reflect.DeepEqual(old, v) {
					return nil, fmt.Errorf("%s: components.%s.%s differs from another part's", name, section, k)
				}
				have[k] = v
			}
		}
		if t, ok := part["tags"].([]any); ok {
			tags = append(tags, t...)
		}
	}
	doc["tags"] = tags
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// object returns m[key] as an object, creating it when absent.
func object(m map[string]any, key string) map[string]any {
	o, ok := m[key].(map[string]any)
	if !ok {
		o = map[string]any{}
		m[key] = o
	}
	return o
}

func (s *Server) specRoutes(mux *Mux) {
	mux.HandleFunc("GET /c/v1/openapi.json", s.getOpenAPI)
	mux.HandleFunc("/c/v1/openapi.json", methodNotAllowed("GET, HEAD"))
}

// getOpenAPI needs no key: the contract is public.
func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := OpenAPI()
	if err != nil {
		s.Log.Error("assemble openapi document", "err", err)
		respond(w, r, errUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc) //nolint:errcheck
}
