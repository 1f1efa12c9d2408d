package problem

// Code is a machine-readable error code, as the API's error envelope and
// a failed campaign show it. Each code is defined here and nowhere else
// (TestCodesAreDefinedOnce).
type Code string

// The codes, by class.
const (
	// Invalid.
	CodeValidation Code = "VALIDATION_ERROR"
	// A body that is JSON but not an object.
	CodeInvalidBodyType Code = "INVALID_BODY_TYPE"
	// An Idempotency-Key sent again with a different request.
	CodeIdempotencyKeyReused Code = "IDEMPOTENCY_KEY_REUSED"

	// Malformed.
	CodeMalformedJSON         Code = "MALFORMED_JSON"
	CodeInvalidIdempotencyKey Code = "INVALID_IDEMPOTENCY_KEY"

	CodeInvalidAPIKey     Code = "AUTH_INVALID_API_KEY"    // Unauthorized
	CodeInsufficientScope Code = "AUTH_INSUFFICIENT_SCOPE" // Forbidden
	CodeNotFound          Code = "NOT_FOUND"               // NotFound
	CodeMethodNotAllowed  Code = "METHOD_NOT_ALLOWED"      // MethodNotAllowed
	CodeRequestTimeout    Code = "REQUEST_TIMEOUT"         // Timeout

	// Conflict.
	// The command does not apply to the campaign's current status.
	CodeCampaignState Code = "CAMPAIGN_STATE_CONFLICT"
	// Another request with the same Idempotency-Key is still running.
	CodeIdempotencyInProgress Code = "IDEMPOTENCY_KEY_IN_PROGRESS"
	CodeWebhookLimit          Code = "WEBHOOK_ENDPOINT_LIMIT"
	CodeWebhookDisabled       Code = "WEBHOOK_ENDPOINT_DISABLED"

	CodeBodyTooLarge      Code = "PAYLOAD_TOO_LARGE"          // TooLarge
	CodeUnsupportedMedia  Code = "UNSUPPORTED_MEDIA_TYPE"     // UnsupportedMedia
	CodeInsufficientFunds Code = "BILLING_INSUFFICIENT_FUNDS" // InsufficientFunds
	CodeRateLimited       Code = "RATE_LIMIT_EXCEEDED"        // RateLimited
	CodeUnavailable       Code = "SERVICE_UNAVAILABLE"        // Unavailable
)

// classes gives each code its class; a code missing here would be
// answered as Unavailable (TestEveryCodeHasAClass).
var classes = map[Code]Class{
	CodeValidation:            Invalid,
	CodeInvalidBodyType:       Invalid,
	CodeIdempotencyKeyReused:  Invalid,
	CodeMalformedJSON:         Malformed,
	CodeInvalidIdempotencyKey: Malformed,
	CodeInvalidAPIKey:         Unauthorized,
	CodeInsufficientScope:     Forbidden,
	CodeNotFound:              NotFound,
	CodeMethodNotAllowed:      MethodNotAllowed,
	CodeRequestTimeout:        Timeout,
	CodeCampaignState:         Conflict,
	CodeIdempotencyInProgress: Conflict,
	CodeWebhookLimit:          Conflict,
	CodeWebhookDisabled:       Conflict,
	CodeBodyTooLarge:          TooLarge,
	CodeUnsupportedMedia:      UnsupportedMedia,
	CodeInsufficientFunds:     InsufficientFunds,
	CodeRateLimited:           RateLimited,
	CodeUnavailable:           Unavailable,
}

// Class is the code's class.
func (c Code) Class() Class { return classes[c] }
