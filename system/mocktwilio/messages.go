package mocktwilio

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

// Twilio's test-credential magic numbers
// (https://www.twilio.com/docs/iam/test-credentials).
var (
	magicFromErrors = map[string]func(from string) (int, string){
		"+15005550001": func(from string) (int, string) {
			return 21212, "The 'From' number " + from + " is not a valid phone number, shortcode, or alphanumeric sender ID."
		},
		"+15005550007": func(from string) (int, string) { return 21606, notOwned(from) },
		"+15005550008": func(from string) (int, string) {
			return 21611, "This 'From' number has exceeded the maximum number of queued messages"
		},
	}
	magicToErrors = map[string]func(to, from string) (int, string){
		"+15005550001": func(to, _ string) (int, string) {
			return 21211, "The 'To' number " + to + " is not a valid phone number."
		},
		"+15005550002": func(to, from string) (int, string) {
			return 21612, fmt.Sprintf("The 'To' phone number: %s, is not currently reachable using the 'From' phone number: %s via SMS.", to, from)
		},
		"+15005550003": func(to, _ string) (int, string) {
			return 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: " + to + "."
		},
		"+15005550004": func(string, string) (int, string) { return 21610, "Attempt to send to unsubscribed recipient" },
		"+15005550009": func(string, string) (int, string) { return 21614, "'To' number is not a valid mobile number" },
	}
)

func notOwned(from string) string {
	return fmt.Sprintf("The From phone number %s is not a valid, SMS-capable inbound phone number or short code for your account.", from)
}

// maxBody is Twilio's limit on a concatenated message body, in characters.
const maxBody = 1600

// form parses a request's form body the way Twilio reads it.
func form(r *http.Request) (url.Values, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("unsupported content type %q", ct)
		}
	}
	return url.ParseQuery(string(b))
}

// parseCreate checks a CreateMessage form as Twilio does and returns the
// error code and message Twilio would answer, or 0. owned reports whether
// the account may send from a number; optedOut whether a recipient has
// opted out from a sender.
func parseCreate(f url.Values, owned func(string) bool, optedOut func(from, to string) bool) (code int, message string) {
	to, from, body := f.Get("To"), f.Get("From"), f.Get("Body")
	switch {
	case to == "":
		return 21604, "A 'To' phone number is required."
	case from == "" && f.Get("MessagingServiceSid") == "":
		return 21603, "A 'From' phone number is required."
	case body == "" && f.Get("MediaUrl") == "" && f.Get("ContentSid") == "":
		return 21602, "Message body is required."
	case !system.E164.MatchString(to):
		return 21211, "The 'To' number " + to + " is not a valid phone number."
	}
	if fn, ok := magicToErrors[to]; ok && to == "+15005550001" {
		return fn(to, from)
	}
	if from != "" {
		if fn, ok := magicFromErrors[from]; ok {
			return fn(from)
		}
		if !system.E164.MatchString(from) {
			return 21212, "The 'From' number " + from + " is not a valid phone number, shortcode, or alphanumeric sender ID."
		}
		if !owned(from) {
			return 21606, notOwned(from)
		}
	}
	if fn, ok := magicToErrors[to]; ok {
		return fn(to, from)
	}
	if optedOut(from, to) {
		return 21610, "Attempt to send to unsubscribed recipient"
	}
	if len([]rune(body)) > maxBody {
		return 21617, "The concatenated message body exceeds the 1600 character limit."
	}
	if cb := f.Get("StatusCallback"); cb != "" {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return 21609, "The StatusCallback URL " + cb + " is not a valid URL."
		}
	}
	return 0, ""
}

func (s *Server) owned(number string) bool {
	return number == MagicFrom || slices.Contains(s.cfg.Numbers, number)
}

func optOutKey(ours, theirs string) string { return ours + "|" + theirs }

func (s *Server) messagePath(sid string) string {
	return "/2010-04-01/Accounts/" + s.cfg.AccountSID + "/Messages/" + sid
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	f, err := form(r)
	if err != nil {
		writeError(w, 20001, "Unable to parse the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	code, msg := parseCreate(f, s.owned, func(from, to string) bool { return s.optOuts[optOutKey(from, to)] })
	if code != 0 {
		s.mu.Unlock()
		writeError(w, code, msg, http.StatusBadRequest)
		return
	}
	now := s.cfg.Now()
	sid := newSID("SM")
	numMedia := len(f["MediaUrl"])
	if numMedia > 0 {
		sid = "MM" + sid[2:]
	}
	rec := &Record{
		Message: twilio.Message{
			AccountSID: s.cfg.AccountSID, APIVersion: twilio.APIVersion, Body: f.Get("Body"),
			DateCreated: rfc2822(now), DateUpdated: rfc2822(now), Direction: "outbound-api",
			NumMedia: strconv.Itoa(numMedia), NumSegments: strconv.Itoa(Segments(f.Get("Body"))),
			SID: sid, Status: "queued", To: f.Get("To"),
			SubresourceURIs: map[string]string{"media": s.messagePath(sid) + "/Media.json"},
			URI:             s.messagePath(sid) + ".json",
		},
		StatusCallback: f.Get("StatusCallback"),
		Callbacks:      []Callback{},
		CreatedNano:    now.UnixNano(),
	}
	if from := f.Get("From"); from != "" {
		rec.From = &from
	}
	if ms := f.Get("MessagingServiceSid"); ms != "" {
		rec.MessagingServiceSID = &ms
	}
	s.messages[sid] = rec
	s.persist(rec)
	out := copyRecord(rec)
	s.mu.Unlock()

	s.progress(sid)
	writeJSON(w, http.StatusCreated, out.Message)
}

func (s *Server) find(w http.ResponseWriter, r *http.Request) *Record {
	sid := chi.URLParam(r, "Sid")
	rec, ok := s.messages[sid]
	if !ok {
		writeError(w, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path), http.StatusNotFound)
		return nil
	}
	return rec
}

func (s *Server) handleFetch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.find(w, r); rec != nil {
		writeJSON(w, http.StatusOK, rec.Message)
	}
}

// handleUpdate supports what Twilio's update does for a sent message:
// redacting the body with Body="".
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	f, err := form(r)
	if err != nil {
		writeError(w, 20001, "Unable to parse the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(w, r)
	if rec == nil {
		return
	}
	if _, ok := f["Body"]; ok {
		if f.Get("Body") != "" {
			writeError(w, 21640, "Body can only be redacted: send an empty Body", http.StatusBadRequest)
			return
		}
		rec.Body = ""
	}
	rec.DateUpdated = rfc2822(s.cfg.Now())
	s.persist(rec)
	writeJSON(w, http.StatusOK, rec.Message)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(w, r)
	if rec == nil {
		return
	}
	delete(s.messages, rec.SID)
	s.persistRemoval(rec.SID)
	w.WriteHeader(http.StatusNoContent)
}

// listPage is Twilio's paged list answer.
type listPage struct {
	End             int              `json:"end"`
	FirstPageURI    string           `json:"first_page_uri"`
	NextPageURI     *string          `json:"next_page_uri"`
	Page            int              `json:"page"`
	PageSize        int              `json:"page_size"`
	PreviousPageURI *string          `json:"previous_page_uri"`
	Messages        []twilio.Message `json:"messages"`
	Start           int              `json:"start"`
	URI             string           `json:"uri"`
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, page := 50, 0
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, 20001, "PageSize must be an integer from 1 to 1000", http.StatusBadRequest)
			return
		}
		size = n
	}
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, 20001, "Page must be a non-negative integer", http.StatusBadRequest)
			return
		}
		page = n
	}
	var on, before, after time.Time
	for name, dst := range map[string]*time.Time{"DateSent": &on, "DateSent<": &before, "DateSent>": &after} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				writeError(w, 20001, name+" must be a date, YYYY-MM-DD", http.StatusBadRequest)
				return
			}
			*dst = t
		}
	}
	s.mu.Lock()
	var matched []twilio.Message
	for _, rec := range s.sorted() {
		if v := q.Get("To"); v != "" && rec.To != v {
			continue
		}
		if v := q.Get("From"); v != "" && deref(rec.From) != v {
			continue
		}
		if !on.IsZero() || !before.IsZero() || !after.IsZero() {
			if rec.DateSent == nil {
				continue
			}
			sent, _ := time.Parse(time.RFC1123Z, *rec.DateSent)
			day := sent.UTC().Truncate(24 * time.Hour)
			if (!on.IsZero() && !day.Equal(on)) || (!before.IsZero() && !day.Before(before) && !day.Equal(before)) || (!after.IsZero() && day.Before(after)) {
				continue
			}
		}
		matched = append(matched, rec.Message)
	}
	s.mu.Unlock()

	base := "/2010-04-01/Accounts/" + s.cfg.AccountSID + "/Messages.json"
	pageURI := func(p int) string {
		v := url.Values{}
		for _, k := range []string{"To", "From", "DateSent", "DateSent<", "DateSent>"} {
			if q.Get(k) != "" {
				v.Set(k, q.Get(k))
			}
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(p))
		return base + "?" + v.Encode()
	}
	start := min(page*size, len(matched))
	end := min(start+size, len(matched))
	out := listPage{Page: page, PageSize: size, Start: start, End: max(end-1, 0), Messages: matched[start:end],
		FirstPageURI: pageURI(0), URI: pageURI(page)}
	if out.Messages == nil {
		out.Messages = []twilio.Message{}
	}
	if end < len(matched) {
		next := pageURI(page+1) + "&PageToken=PA" + matched[end-1].SID[2:]
		out.NextPageURI = &next
	}
	if page > 0 {
		prev := pageURI(page - 1)
		out.PreviousPageURI = &prev
	}
	writeJSON(w, http.StatusOK, out)
}

// progress moves an outbound message through queued → sending → sent →
// delivered (or undelivered/failed when a fault names its number), posting
// each status to its StatusCallback.
func (s *Server) progress(sid string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.mu.Lock()
		rec := s.messages[sid]
		var steps []string
		if rec != nil {
			f := s.faultsFor(rec.To)
			switch {
			case slices.Contains(f.FailedTo, rec.To):
				steps = []string{"failed"}
			case slices.Contains(f.UndeliveredTo, rec.To):
				steps = []string{"sending", "sent", "undelivered"}
			default:
				steps = []string{"sending", "sent", "delivered"}
			}
			for i, st := range steps {
				if st == rec.Status {
					steps = steps[i+1:]
					break
				}
			}
		}
		s.mu.Unlock()
		if rec == nil {
			return
		}
		s.callback(sid) // the current status, queued for a new message
		for _, status := range steps {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(s.cfg.StepDelay):
			}
			if !s.advance(sid, status) {
				return
			}
			s.callback(sid)
		}
	}()
}

// advance sets a message's status; false if the message is gone.
func (s *Server) advance(sid, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.messages[sid]
	if !ok {
		return false
	}
	now := rfc2822(s.cfg.Now())
	rec.Status, rec.DateUpdated = status, now
	switch status {
	case "sent":
		rec.DateSent = &now
		segments, _ := strconv.Atoi(rec.NumSegments)
		rec.Price = ptr(fmt.Sprintf("-%.5f", 0.0079*float64(max(segments, 1))))
		rec.PriceUnit = ptr("USD")
	case "undelivered":
		rec.ErrorCode, rec.ErrorMessage = ptr(30003), ptr("Unreachable destination handset")
	case "failed":
		rec.ErrorCode, rec.ErrorMessage = ptr(30008), ptr("Unknown error")
	}
	s.persist(rec)
	return true
}

// callback posts the message's current status, signed, to its
// StatusCallback, and records the outcome.
func (s *Server) callback(sid string) {
	s.mu.Lock()
	rec, ok := s.messages[sid]
	if !ok || rec.StatusCallback == "" {
		s.mu.Unlock()
		return
	}
	cb := Callback{Status: rec.Status, URL: rec.StatusCallback}
	params := url.Values{
		"AccountSid": {rec.AccountSID}, "ApiVersion": {rec.APIVersion}, "From": {deref(rec.From)}, "To": {rec.To},
		"MessageSid": {rec.SID}, "MessageStatus": {rec.Status}, "SmsSid": {rec.SID}, "SmsStatus": {rec.Status},
	}
	if rec.ErrorCode != nil {
		params.Set("ErrorCode", strconv.Itoa(*rec.ErrorCode))
	}
	drop := s.rnd.Float64() < s.faultsFor(rec.To).DropCallbackProbability
	s.mu.Unlock()

	if drop {
		cb.Dropped = true
	} else {
		cb.ResponseCode, cb.Error = s.post(cb.URL, params)
	}
	s.mu.Lock()
	if rec, ok := s.messages[sid]; ok {
		rec.Callbacks = append(rec.Callbacks, cb)
		s.persist(rec)
	}
	s.mu.Unlock()
}

// post sends a signed form webhook, as Twilio does.
func (s *Server) post(target string, params url.Values) (int, string) {
	// Sign the URL exactly as the receiver will see it: an empty path is
	// requested as "/".
	if u, err := url.Parse(target); err == nil && u.Path == "" {
		u.Path = "/"
		target = u.String()
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, target, strings.NewReader(params.Encode()))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set(twilio.SignatureHeader, twilio.Signature(s.cfg.AuthToken, target, params))
	// At most postSlots webhooks are in flight: their connections are
	// reused, and a burst of callbacks does not starve the API's requests
	// of the CPU (each message's callbacks still go in order, one at a time).
	select {
	case s.postSlots <- struct{}{}:
	case <-s.ctx.Done():
		return 0, s.ctx.Err().Error()
	}
	defer func() { <-s.postSlots }()
	res, err := s.cfg.HTTP.Do(req)
	if err != nil {
		s.cfg.Logger.Warn("mock twilio: webhook failed", "url", target, "err", err)
		return 0, err.Error()
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, ""
}

type inboundRequest struct {
	From string `json:"From"`
	To   string `json:"To"`
	Body string `json:"Body"`
	URL  string `json:"Url"` // overrides the configured inbound URL
}

// handleInbound makes a phone text one of the account's numbers: the
// message is stored, opt-out keywords take effect, and the inbound webhook
// is posted, signed.
func (s *Server) handleInbound(w http.ResponseWriter, r *http.Request) {
	var in inboundRequest
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON {From, To, Body}"})
			return
		}
	} else {
		f, err := form(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		in = inboundRequest{From: f.Get("From"), To: f.Get("To"), Body: f.Get("Body"), URL: f.Get("Url")}
	}
	if !system.E164.MatchString(in.From) || !s.owned(in.To) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "From must be an E.164 number and To one of the account's numbers"})
		return
	}
	now := s.cfg.Now()
	sid := newSID("SM")
	keyword := system.Keyword(in.Body)
	s.mu.Lock()
	rec := &Record{
		Message: twilio.Message{
			AccountSID: s.cfg.AccountSID, APIVersion: twilio.APIVersion, Body: in.Body,
			DateCreated: rfc2822(now), DateUpdated: rfc2822(now), DateSent: ptr(rfc2822(now)), Direction: "inbound",
			From: ptr(in.From), NumMedia: "0", NumSegments: strconv.Itoa(Segments(in.Body)), SID: sid, Status: "received", To: in.To,
			SubresourceURIs: map[string]string{"media": s.messagePath(sid) + "/Media.json"}, URI: s.messagePath(sid) + ".json",
		},
		Callbacks:   []Callback{},
		CreatedNano: now.UnixNano(),
	}
	s.messages[sid] = rec
	s.persist(rec)
	switch keyword {
	case "STOP":
		s.optOuts[optOutKey(in.To, in.From)] = true
		s.persistOptOuts()
	case "START":
		delete(s.optOuts, optOutKey(in.To, in.From))
		s.persistOptOuts()
	}
	target := in.URL
	if target == "" {
		target = s.cfg.InboundURL
	}
	s.mu.Unlock()

	params := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "AccountSid": {s.cfg.AccountSID},
		"From": {in.From}, "To": {in.To}, "Body": {in.Body}, "NumMedia": {"0"}, "NumSegments": {rec.NumSegments},
		"SmsStatus": {"received"}, "ApiVersion": {twilio.APIVersion},
	}
	if keyword != "" {
		params.Set("OptOutType", keyword)
	}
	out := map[string]any{"sid": sid, "opt_out_type": keyword, "webhook_url": target}
	if target != "" {
		code, errText := s.post(target, params)
		out["webhook_status"], out["webhook_error"] = code, errText
	}
	writeJSON(w, http.StatusCreated, out)
}

// gsm7 holds the GSM 03.38 basic character set; gsm7Ext the extension
// characters, which take two septets.
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "^{}\\[~]|€\f"
)

// Segments returns how many SMS segments body takes: GSM-7 bodies fit 160
// septets in one segment and 153 per segment when split; any other body is
// UCS-2, with 70 and 67 UTF-16 units.
func Segments(body string) int {
	septets, isGSM := 0, true
	for _, r := range body {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7Ext, r):
			septets += 2
		default:
			isGSM = false
		}
	}
	single, multi, units := 160, 153, septets
	if !isGSM {
		single, multi, units = 70, 67, len(utf16.Encode([]rune(body)))
	}
	if units <= single {
		return 1
	}
	return (units + multi - 1) / multi
}
