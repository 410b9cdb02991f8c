// Package openai is a contract double of OpenAI's Chat Completions API for
// runs that must not reach OpenAI: POST /v1/chat/completions and
// GET /v1/models/{model}, with OpenAI's authentication, error bodies and
// response shape, answering deterministically — the same request gets the
// same completion, built from the facts the prompt gave.
package openai

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Config configures a Server.
type Config struct {
	// APIKey is the only key it accepts.
	APIKey string
	// Models are the models it knows.
	Models []string
	Now    func() time.Time
}

// Server is the double.
type Server struct {
	cfg Config
	mux *http.ServeMux
}

// New returns a double accepting cfg.APIKey.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/chat/completions", s.authorized(s.handleCompletion))
	s.mux.HandleFunc("GET /v1/models/{model}", s.authorized(s.handleModel))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is OpenAI's error body.
type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg, param, code string) {
	var e apiError
	e.Error.Message, e.Error.Type = msg, "invalid_request_error"
	if param != "" {
		e.Error.Param = &param
	}
	if code != "" {
		e.Error.Code = &code
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Every answer carries a request id of its own, as OpenAI's do; a
	// completion's id is unique too. Only the content is a function of the
	// request, so memos stay byte-identical.
	b := make([]byte, 16)
	rand.Read(b)
	w.Header().Set("X-Request-Id", "req_"+hex.EncodeToString(b))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok || key == "":
			writeError(w, http.StatusUnauthorized, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "", "")
		case subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1:
			writeError(w, http.StatusUnauthorized, "Incorrect API key provided: "+redact(key)+".", "", "invalid_api_key")
		default:
			next(w, r)
		}
	}
}

// redact shows a key as OpenAI does: its start and its last four characters.
func redact(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "*****" + key[len(key)-4:]
}

func (s *Server) knows(model string) bool { return slices.Contains(s.cfg.Models, model) }

func modelNotFound(w http.ResponseWriter, model string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model), "", "model_not_found")
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	model := r.PathValue("model")
	if !s.knows(model) {
		modelNotFound(w, model)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "openai"})
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

var roles = []string{"developer", "system", "user", "assistant", "tool", "function"}

func (s *Server) handleCompletion(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "We could not read your request body.", "", "")
		return
	}
	var req struct {
		Model    *string   `json:"model"`
		Messages []message `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request: "+err.Error(), "", "")
		return
	}
	if req.Model == nil || *req.Model == "" {
		writeError(w, http.StatusBadRequest, "you must provide a model parameter", "model", "")
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array")
		return
	}
	var prompt []string
	for i, m := range req.Messages {
		var text string
		if !slices.Contains(roles, m.Role) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value for 'messages[%d].role'.", i), fmt.Sprintf("messages[%d].role", i), "invalid_value")
			return
		}
		if json.Unmarshal(m.Content, &text) != nil && m.Role != "assistant" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid type for 'messages[%d].content': expected a string.", i), fmt.Sprintf("messages[%d].content", i), "invalid_type")
			return
		}
		if m.Role == "user" {
			prompt = append(prompt, text)
		}
	}
	if !s.knows(*req.Model) {
		modelNotFound(w, *req.Model)
		return
	}
	content := answer(prompt)
	promptTokens, completionTokens := tokens(string(body)), tokens(content)
	writeJSON(w, http.StatusOK, map[string]any{
		"id": "chatcmpl-" + rand.Text(), "object": "chat.completion", "created": s.cfg.Now().Unix(),
		"model": *req.Model, "service_tier": "default", "system_fingerprint": "fp_reos_double",
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop", "logprobs": nil,
			"message": map[string]any{"role": "assistant", "content": content, "refusal": nil, "annotations": []any{}}}},
		"usage": map[string]any{"prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens},
	})
}

// answer is the double's completion: the user's facts restated as prose,
// the same for the same prompt.
func answer(prompt []string) string {
	var facts []string
	for _, p := range prompt {
		for _, line := range strings.Split(p, "\n") {
			if line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- ")); line != "" {
				facts = append(facts, strings.TrimSuffix(line, ".")+".")
			}
		}
	}
	return "This memo was written by the OpenAI contract double from the facts it was given. " + strings.Join(facts, " ")
}

// tokens estimates a token count: about four characters a token.
func tokens(s string) int { return (len(s) + 3) / 4 }
