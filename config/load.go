package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Load builds the configuration from the command-line arguments args
// (flags only, no program name) and the environment seen through lookupEnv
// (os.LookupEnv, or a map in tests; nil means an empty environment): it
// binds every group on a new flag set, parses args and calls [FromFlags],
// as a command that binds every group does. With -h or --help in args the
// error wraps [pflag.ErrHelp].
func Load(args []string, lookupEnv func(string) (string, bool)) (Config, error) {
	fs := pflag.NewFlagSet("filecache", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Bind(fs, AllGroups()...)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		return Config{}, fmt.Errorf("config: %s", scrubArgs(err.Error(), args))
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: %d unexpected positional argument(s)", fs.NArg())
	}
	return FromFlags(fs, lookupEnv)
}

// scrubArgs hides the values of args in a flag parsing error message.
func scrubArgs(msg string, args []string) string {
	for _, a := range args {
		if _, v, ok := strings.Cut(a, "="); ok && v != "" {
			msg = strings.ReplaceAll(msg, v, redactedPassword)
		}
	}
	return msg
}

// FromFlags builds the configuration from the flags registered on fs by
// [Bind] (after fs has parsed the command line) and the environment seen
// through lookupEnv (nil means an empty environment). It is the one path
// from the outside to a Config: every command calls it.
//
// A flag that was given wins over the environment, which wins over the
// default; an empty value means the default. Settings without a flag on fs
// are read from the environment alone. The result is validated: the error
// joins one [*VarError] per bad setting and never contains a secret.
func FromFlags(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var t topology
	var errs []error
	failed := map[string]bool{}
	fail := func(env, format string, args ...any) {
		for name := range strings.SplitSeq(env, ", ") {
			failed[name] = true
		}
		errs = append(errs, &VarError{Var: env, Reason: fmt.Sprintf(format, args...)})
	}
	for _, o := range options(&cfg, &t) {
		text := lookup(fs, lookupEnv, o)
		if !o.secret() {
			text = strings.TrimSpace(text)
		}
		if text == "" {
			continue
		}
		if reason := set(o, text); reason != "" {
			fail(o.env, "%s", reason)
		}
	}
	if p := cfg.Cache.Prefix; p != "" && !strings.HasSuffix(p, PrefixSeparator) {
		cfg.Cache.Prefix = p + PrefixSeparator
	}
	resolveRedis(&cfg.Redis, t, fail)
	if err := errors.Join(append(errs, cfg.validate(failed)...)...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// lookup returns the text of o: the flag's when given, else the
// environment's.
func lookup(fs *pflag.FlagSet, lookupEnv func(string) (string, bool), o option) string {
	if fs != nil {
		if f := fs.Lookup(o.flagName()); f != nil && f.Changed {
			if v, ok := f.Value.(*flagValue); ok {
				return v.text
			}
			return f.Value.String()
		}
	}
	if lookupEnv != nil {
		if v, ok := lookupEnv(o.env); ok {
			return v
		}
	}
	return ""
}

// set parses text into o's field, applying o's zero rule, and returns why
// it cannot, or "". A reason may quote text, so secrets (kept verbatim)
// must never fail here.
func set(o option, text string) string {
	switch p := o.ptr.(type) {
	case *string:
		*p = text
	case *Secret:
		*p = Secret(text)
	case *int:
		n, err := strconv.Atoi(text)
		if err != nil {
			return quote(text) + " is not an integer"
		}
		switch {
		case o.zero == zeroRefused && n < 1:
			return fmt.Sprintf("%d must be at least 1", n)
		case n < 0:
			return fmt.Sprintf("%d must not be negative%s", n, offHint(o))
		case n == 0 && o.zero == zeroOff:
			n = -1
		}
		*p = n
	case *bool:
		b, ok := parseBool(text)
		if !ok {
			return quote(text) + " is not a boolean (true or false)"
		}
		*p = b
	case negated:
		b, ok := parseBool(text)
		if !ok {
			return quote(text) + " is not a boolean (true or false)"
		}
		*p.p = !b
	case *float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return quote(text) + " is not a number"
		}
		if f == 0 && o.zero == zeroOff {
			f = -1
		} else if hi := floatMax[o.env]; !(f >= 0 && f <= hi) { // also catches NaN
			return fmt.Sprintf("%v must be between 0 and %v", f, hi)
		}
		*p = f
	case *time.Duration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return quote(text) + " is not a duration (e.g. 1h, 30m)"
		}
		switch {
		case o.zero == zeroRefused && d < MinTTL:
			return fmt.Sprintf("%s must be at least %s", d, MinTTL)
		case d < 0:
			return fmt.Sprintf("%s must not be negative%s", d, offHint(o))
		case d == 0 && o.zero == zeroOff:
			d = -1
		}
		*p = d
	case *slog.Level:
		l, ok := parseLevel(text)
		if !ok {
			return quote(text) + " is not a log level (debug, info, warn or error)"
		}
		*p = l
	case *[]netip.Prefix:
		var ps []netip.Prefix
		for _, item := range splitList(text) {
			pf, ok := parsePrefix(item)
			if !ok {
				return quote(item) + " is not an IP address or CIDR prefix"
			}
			ps = append(ps, pf)
		}
		*p = ps
	default:
		panic(fmt.Sprintf("config: no parser for %T", o.ptr))
	}
	return ""
}

// offHint tells how to turn off a setting whose 0 does.
func offHint(o option) string {
	if o.zero == zeroOff {
		return " (0 turns it off)"
	}
	return ""
}

// parseBool accepts what strconv.ParseBool does.
func parseBool(s string) (bool, bool) {
	b, err := strconv.ParseBool(s)
	return b, err == nil
}

// quote quotes a (non-secret) value for an error message, cut to a sane
// length.
func quote(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "..."
	}
	return strconv.Quote(s)
}

// parseLevel accepts the LOG_LEVEL names, in any case.
func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// splitList splits a comma-separated list, trimming items and dropping
// empty ones (so a trailing comma is harmless).
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parsePrefix parses an IP (as a single-address prefix) or a CIDR prefix,
// masked, with IPv4-mapped IPv6 unmapped. Zones are refused.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
