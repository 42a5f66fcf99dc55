// Package auth holds the service's bearer tokens. A probe token is bound to
// one probe and the sites it may write results for; a reader token (role
// "reader") may read raw results, contracts and their evidence and write
// nothing; an admin token (role "admin") may use the admin API and read
// what a reader may, and writes no results. Only the SHA-256 of a token is
// kept, in memory and in the tokens file; comparison is constant-time.
//
// A reader or admin token has a scope: one comune (its slug: the comune's
// municipality reads and administers that comune only) or the consortium
// (every comune; the scope of an entry without "comune", so tokens files
// written before scopes existed keep their meaning). A probe token's
// comune is the comune of its sites, which the caller resolves against
// the data set (Entry.ComuneOf).
//
// The tokens file is JSON: a list of {"probe", "sites", "role", "comune",
// "sha256", "created"} entries ("probe" names the person or system a
// reader or admin token is for). It is independent of the result store,
// so several fibremon replicas writing to one InfluxDB can share it.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"fibremon"
)

// TokenPrefix starts every token, so leaked tokens are easy to grep for.
const TokenPrefix = "fmp_"

// Roles of a token. In the tokens file a probe token has no role (""); a
// Principal's Role is always one of these.
const (
	RoleProbe  = "probe"
	RoleReader = "reader"
	RoleAdmin  = "admin"
)

// Roles lists every role, in the order listings and metrics use.
var Roles = []string{RoleProbe, RoleReader, RoleAdmin}

// Entry is one issued token as stored in the tokens file.
type Entry struct {
	Probe string   `json:"probe"`
	Sites []string `json:"sites"`
	Role  string   `json:"role,omitempty"`
	// Comune scopes a reader or admin token to one comune (its slug);
	// "" is the consortium, every comune. Probe tokens have none: their
	// comune is their sites'.
	Comune  string    `json:"comune,omitempty"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
}

// role returns the entry's role, RoleProbe for a probe token.
func (e Entry) role() string {
	if e.Role == "" {
		return RoleProbe
	}
	return e.Role
}

// RoleName returns the entry's role: RoleProbe, RoleReader or RoleAdmin.
func (e Entry) RoleName() string { return e.role() }

// ComuneOf returns the comune the entry belongs to, for listing and
// revoking tokens by scope: the Comune of a reader or admin token ("" for
// the consortium); for a probe token, the comune of its sites as
// siteComune resolves them, when they all lie in one; "" (the
// consortium's alone) when they lie in several or one is unknown.
func (e Entry) ComuneOf(siteComune func(site string) (string, bool)) string {
	if e.role() != RoleProbe {
		return e.Comune
	}
	comune := ""
	for i, s := range e.Sites {
		c, ok := siteComune(s)
		if !ok || (i > 0 && c != comune) {
			return ""
		}
		comune = c
	}
	return comune
}

// Principal is who a valid token speaks for.
type Principal struct {
	// Probe names the probe, or the person or system of a reader or admin
	// token.
	Probe string
	Sites []string
	// Role is RoleProbe, RoleReader or RoleAdmin.
	Role string
	// Admin is set for an admin token, which has no sites.
	Admin bool
	// Comune is the slug of the one comune a reader or admin token is
	// scoped to; "" for the consortium (and for a probe token).
	Comune string
}

// MaySite reports whether p may write results for site.
func (p Principal) MaySite(site string) bool { return slices.Contains(p.Sites, site) }

// MayRead reports whether p may read restricted data at all: raw results,
// contracts and their evidence, of every comune or (Comune set) of one.
// Reader and admin tokens may; a probe token may not (it may read only its
// own sites' raw results, which the HTTP layer checks with MaySite).
func (p Principal) MayRead() bool { return p.Role == RoleReader || p.Role == RoleAdmin }

// Consortium reports whether p is a reader or admin token of the whole
// consortium, not of one comune.
func (p Principal) Consortium() bool { return p.MayRead() && p.Comune == "" }

// MayReadComune reports whether p may read the restricted data of the
// comune with the given slug.
func (p Principal) MayReadComune(slug string) bool {
	return p.MayRead() && (p.Comune == "" || p.Comune == slug)
}

// MayAdminComune reports whether p may administer the comune with the
// given slug: reload its data and manage its tokens. slug "" is the
// consortium: only a consortium admin may.
func (p Principal) MayAdminComune(slug string) bool {
	return p.Admin && (p.Comune == "" || p.Comune == slug)
}

// Scope names p's scope for messages: "the consortium" or "comune <slug>".
func (p Principal) Scope() string {
	if p.Comune == "" {
		return "the consortium"
	}
	return "comune " + p.Comune
}

// Counts says how many tokens of each role a set holds.
type Counts struct {
	Probe, Reader, Admin int
}

// Total is the number of tokens of every role.
func (c Counts) Total() int { return c.Probe + c.Reader + c.Admin }

// Of returns the count of role.
func (c Counts) Of(role string) int {
	switch role {
	case RoleProbe:
		return c.Probe
	case RoleReader:
		return c.Reader
	case RoleAdmin:
		return c.Admin
	}
	return 0
}

// Tokens is a set of issued tokens. It is safe for concurrent use.
type Tokens struct {
	mu       sync.RWMutex
	entries  []Entry
	byHash   map[[32]byte]int
	onChange func(Counts)
	// source is the SHA-256 of the file content the set was loaded from
	// (zero for a missing file). Watch compares the file with it, so a
	// rewrite that lands between Load and the start of Watch is not missed.
	source [32]byte
}

// NewTokens returns an empty set.
func NewTokens() *Tokens { return &Tokens{byHash: map[[32]byte]int{}} }

// Generate returns a new random token.
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Issue creates a token for probe, bound to sites, adds it to the set and
// returns the token in clear (the only time it is seen).
func (t *Tokens) Issue(probe string, sites []string, now time.Time) (string, Entry, error) {
	return t.issue(probe, sites, "", "", now)
}

// IssueAdmin creates an admin token of the consortium for the operator
// name, adds it to the set and returns the token in clear.
func (t *Tokens) IssueAdmin(name string, now time.Time) (string, Entry, error) {
	return t.issue(name, nil, RoleAdmin, "", now)
}

// IssueReader creates a reader token of the consortium for name (a person
// or a system such as a Grafana data source), adds it to the set and
// returns the token in clear.
func (t *Tokens) IssueReader(name string, now time.Time) (string, Entry, error) {
	return t.issue(name, nil, RoleReader, "", now)
}

// IssueScoped creates a token of role RoleReader or RoleAdmin for name,
// scoped to the comune with the given slug ("" for the consortium), adds
// it to the set and returns the token in clear. The caller checks that the
// comune exists.
func (t *Tokens) IssueScoped(role, name, comune string, now time.Time) (string, Entry, error) {
	if role != RoleReader && role != RoleAdmin {
		return "", Entry{}, fibremon.FieldErrorf("role", "a scoped token is a %q or %q token, not %q", RoleReader, RoleAdmin, role)
	}
	return t.issue(name, nil, role, comune, now)
}

func (t *Tokens) issue(probe string, sites []string, role, comune string, now time.Time) (string, Entry, error) {
	if !fibremon.ValidID(probe) {
		return "", Entry{}, fibremon.FieldErrorf("probe", "invalid probe name %q", probe)
	}
	if comune != "" && !fibremon.ValidID(comune) {
		return "", Entry{}, fibremon.FieldErrorf("comune", "invalid comune slug %.80q", comune)
	}
	if len(sites) == 0 && role == "" {
		return "", Entry{}, fibremon.FieldErrorf("sites", "a token needs at least one site")
	}
	for _, s := range sites {
		if !fibremon.ValidID(s) {
			return "", Entry{}, fibremon.FieldErrorf("sites", "invalid site id %q", s)
		}
	}
	tok, err := Generate()
	if err != nil {
		return "", Entry{}, err
	}
	sum := sha256.Sum256([]byte(tok))
	e := Entry{Probe: probe, Sites: slices.Clone(sites), Role: role, Comune: comune, SHA256: hex.EncodeToString(sum[:]), Created: now.UTC()}
	if err := t.add(e); err != nil {
		return "", Entry{}, err
	}
	return tok, e, nil
}

func (t *Tokens) add(e Entry) error {
	raw, err := hex.DecodeString(e.SHA256)
	if err != nil || len(raw) != sha256.Size {
		return fmt.Errorf("auth: entry for probe %q: sha256 is not 64 hex digits", e.Probe)
	}
	switch {
	case !fibremon.ValidID(e.Probe):
		return fmt.Errorf("auth: entry for probe %q: invalid probe name", e.Probe)
	case e.Role == "" && len(e.Sites) == 0:
		return fmt.Errorf("auth: entry for probe %q: no sites", e.Probe)
	case e.Role != "" && e.Role != RoleAdmin && e.Role != RoleReader:
		return fmt.Errorf("auth: entry for %q: unknown role %q (want %q, %q or none)", e.Probe, e.Role, RoleReader, RoleAdmin)
	case e.Role != "" && len(e.Sites) != 0:
		return fmt.Errorf("auth: entry for %q: a token of role %q has no sites", e.Probe, e.Role)
	case e.Role == "" && e.Comune != "":
		return fmt.Errorf("auth: entry for probe %q: a probe token has no comune (its comune is its sites')", e.Probe)
	case e.Comune != "" && !fibremon.ValidID(e.Comune):
		return fmt.Errorf("auth: entry for %q: invalid comune slug %q", e.Probe, e.Comune)
	}
	var h [32]byte
	copy(h[:], raw)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.byHash[h]; dup {
		return fmt.Errorf("auth: duplicate token hash for probe %q", e.Probe)
	}
	t.entries = append(t.entries, e)
	t.byHash[h] = len(t.entries) - 1
	return nil
}

// ErrNoProbeTokens is the Transient error of Authenticate for a token it
// does not know while the set holds no probe token at all.
var ErrNoProbeTokens = fibremon.Errorf(fibremon.Transient, "auth: 0 probe tokens loaded")

// Authenticate returns the principal of token. An unknown token is an
// Unauthorized error, except while the set holds no probe token: then the
// tokens file is missing or emptied, a fault of the service rather than of
// the caller, and the error is ErrNoProbeTokens (Transient), so that a
// probe keeps its results and retries instead of setting them aside as
// refused.
func (t *Tokens) Authenticate(token string) (Principal, error) {
	sum := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	unknown := func() (Principal, error) {
		for _, e := range t.entries {
			if e.Role == "" {
				return Principal{}, fibremon.Errorf(fibremon.Unauthorized, "unknown token")
			}
		}
		return Principal{}, ErrNoProbeTokens
	}
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 256 {
		return unknown()
	}
	i, ok := t.byHash[sum]
	if !ok {
		return unknown()
	}
	e := t.entries[i]
	want, _ := hex.DecodeString(e.SHA256)
	if subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return unknown()
	}
	return Principal{Probe: e.Probe, Sites: slices.Clone(e.Sites), Role: e.role(), Admin: e.Role == RoleAdmin, Comune: e.Comune}, nil
}

// Counts returns how many tokens of each role the set holds.
func (t *Tokens) Counts() Counts {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return countEntries(t.entries)
}

func countEntries(entries []Entry) Counts {
	var c Counts
	for _, e := range entries {
		switch e.role() {
		case RoleProbe:
			c.Probe++
		case RoleReader:
			c.Reader++
		case RoleAdmin:
			c.Admin++
		}
	}
	return c
}

// OnChange sets f to be called with the new counts after every change of a
// running set: Reload (and so Watch) and Revoke. f runs on the goroutine
// that made the change, after the set's lock is released; calls may
// overlap when changes do. Set it before the set is shared.
func (t *Tokens) OnChange(f func(Counts)) {
	t.mu.Lock()
	t.onChange = f
	t.mu.Unlock()
}

// changed calls the OnChange function, if any, with counts.
func (t *Tokens) changed(c Counts) {
	t.mu.RLock()
	f := t.onChange
	t.mu.RUnlock()
	if f != nil {
		f(c)
	}
}

// Entries returns a copy of the issued entries.
func (t *Tokens) Entries() []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.entries)
}

// Load reads a tokens file. A missing file gives an empty set.
func Load(path string) (*Tokens, error) {
	t := NewTokens()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: read tokens %s: %w", path, err)
	}
	var entries []Entry
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("auth: tokens file %s: %w", path, err)
	}
	for _, e := range entries {
		if err := t.add(e); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	t.source = sha256.Sum256(b)
	return t, nil
}

// Save writes the set to path atomically (temp file, fsync, rename), mode 0600.
func (t *Tokens) Save(path string) error {
	b, err := json.MarshalIndent(t.Entries(), "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tokens-*.tmp")
	if err != nil {
		return fmt.Errorf("auth: save tokens: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("auth: save tokens: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("auth: save tokens: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("auth: save tokens: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("auth: save tokens: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("auth: save tokens: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// replace swaps in o's entries.
func (t *Tokens) replace(o *Tokens) {
	o.mu.RLock()
	entries, byHash, source := slices.Clone(o.entries), maps.Clone(o.byHash), o.source
	o.mu.RUnlock()
	t.mu.Lock()
	t.entries, t.byHash, t.source = entries, byHash, source
	c := countEntries(t.entries)
	t.mu.Unlock()
	t.changed(c)
}

// Reload replaces t's tokens with those of the file at path and returns
// how many there are. A file that fails to load changes nothing.
func (t *Tokens) Reload(path string) (int, error) {
	fresh, err := Load(path)
	if err != nil {
		return 0, err
	}
	t.replace(fresh)
	return len(fresh.Entries()), nil
}

// Watch reloads the tokens file into t whenever its content differs from
// what t was loaded from, checking every interval, until ctx is done. A file
// that fails to load keeps the previous tokens and is logged once.
//
// The comparison is by content (SHA-256), against the content Load read:
// a file rewritten between Load and Watch is picked up, and so is one
// rewritten within the file system's timestamp granularity with the same size.
//
// Liveness: Watch returns when ctx is done; run it in the caller's errgroup.
func (t *Tokens) Watch(ctx context.Context, path string, interval time.Duration, logger *slog.Logger) error {
	sum := func() [32]byte {
		b, err := os.ReadFile(path)
		if err != nil {
			return [32]byte{} // as Load records a missing file; Reload reports other errors
		}
		return sha256.Sum256(b)
	}
	t.mu.RLock()
	last := t.source
	t.mu.RUnlock()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s := sum()
		if s == last {
			continue
		}
		last = s
		n, err := t.Reload(path)
		if err != nil {
			logger.Error("tokens file not reloaded; keeping the previous tokens", "path", path, "err", err)
			continue
		}
		logger.Info("tokens reloaded", "path", path, "tokens", n)
	}
}

// Revoke removes every token of probe, or only the one whose SHA-256 starts
// with hashPrefix (at least 8 hex digits) when it is not empty. It returns
// how many were removed; NotFound when none matched.
func (t *Tokens) Revoke(probe, hashPrefix string) (int, error) {
	return t.RevokeIf(probe, hashPrefix, nil)
}

// RevokeIf is Revoke limited to the entries for which may returns true
// (nil: every entry): the tokens of one comune, for that comune's admin.
// Matching entries that may refuses are kept; when every match is
// refused, the error is Forbidden, naming the probe: the caller learns the
// token exists but is not its own, as it would from the public list of
// sites, and nothing of the token itself.
func (t *Tokens) RevokeIf(probe, hashPrefix string, may func(Entry) bool) (int, error) {
	if hashPrefix != "" && len(hashPrefix) < 8 {
		return 0, fibremon.FieldErrorf("sha256", "give at least 8 hex digits of the token's SHA-256")
	}
	t.mu.Lock()
	kept := t.entries[:0:0]
	removed, refused := 0, 0
	for _, e := range t.entries {
		if e.Probe == probe && strings.HasPrefix(e.SHA256, strings.ToLower(hashPrefix)) {
			if may == nil || may(e) {
				removed++
				continue
			}
			refused++
		}
		kept = append(kept, e)
	}
	if removed == 0 {
		t.mu.Unlock()
		if refused > 0 {
			return 0, fibremon.Errorf(fibremon.Forbidden, "the tokens of %q that match are outside your scope", probe)
		}
		return 0, fibremon.Errorf(fibremon.NotFound, "no token of probe %q matches", probe)
	}
	t.entries = kept
	t.byHash = make(map[[32]byte]int, len(kept))
	for i, e := range kept {
		raw, _ := hex.DecodeString(e.SHA256)
		var h [32]byte
		copy(h[:], raw)
		t.byHash[h] = i
	}
	c := countEntries(t.entries)
	t.mu.Unlock()
	t.changed(c)
	return removed, nil
}
