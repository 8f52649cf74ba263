// Package redisinfo reads the reply of the Redis INFO command: a text of
// "key:value" lines in "# Section" groups. rueidis speaks the protocol;
// this package only splits the text. It is shared by metrics (the INFO
// poller) and report (the efficiency report).
package redisinfo

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// Info is the parsed reply of INFO: field name to raw value. Keyspace lines
// ("db0:keys=1,expires=1,avg_ttl=0") are kept raw under their database name.
type Info map[string]string

// Parse splits the text of an INFO reply. Comment and blank lines are
// skipped; a line without ':' is ignored.
func Parse(text string) Info {
	info := Info{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		info[k] = v
	}
	return info
}

// Fetch runs INFO with sections (none: the default sections) on node and
// parses the reply.
func Fetch(ctx context.Context, node rueidis.Client, sections ...string) (Info, error) {
	text, err := node.Do(ctx, node.B().Info().Section(sections...).Build()).ToString()
	if err != nil {
		return nil, err
	}
	return Parse(text), nil
}

// Int returns the field as an integer; ok is false when it is absent or not
// a number.
func (i Info) Int(key string) (n int64, ok bool) {
	v, present := i[key]
	if !present {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, false
		}
		return int64(f), true
	}
	return n, true
}

// Float returns the field as a float; ok is false when it is absent or not a
// number.
func (i Info) Float(key string) (float64, bool) {
	v, present := i[key]
	if !present {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// Role returns "master" or "slave" (the field "role"), or "" if unknown.
func (i Info) Role() string { return i["role"] }

// Keys returns the number of keys over every database of the keyspace
// section, and how many of them have an expiry.
func (i Info) Keys() (keys, expires int64) {
	for k, v := range i {
		if !strings.HasPrefix(k, "db") {
			continue
		}
		if _, err := strconv.Atoi(k[2:]); err != nil {
			continue
		}
		for field := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(field, "=")
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				continue
			}
			switch name {
			case "keys":
				keys += n
			case "expires":
				expires += n
			}
		}
	}
	return keys, expires
}
