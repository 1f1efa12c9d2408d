package httpapi

import "net/http"

// maxIdempotencyKey bounds the header; 255 fits any UUID or hash a client
// would use, with room for a prefix.
const maxIdempotencyKey = 255

// idempotencyKey returns the Idempotency-Key header, or a message saying
// why it is unusable. Printable ASCII only, so the key reads the same in
// logs and in the database as the client wrote it.
func idempotencyKey(h http.Header) (key, problem string) {
	vals := h.Values("Idempotency-Key")
	switch {
	case len(vals) == 0:
		return "", ""
	case len(vals) > 1:
		return "", "Send one Idempotency-Key header, not several."
	}
	key = vals[0]
	if msg := checkIdempotencyKey(key); msg != "" {
		return "", msg
	}
	return key, ""
}

// checkIdempotencyKey says why a key is unusable, or "".
func checkIdempotencyKey(key string) string {
	if key == "" || len(key) > maxIdempotencyKey {
		return "The Idempotency-Key header must have 1 to 255 characters."
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "The Idempotency-Key header must be printable ASCII."
		}
	}
	return ""
}
