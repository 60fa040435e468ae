// Package redact removes passwords from connection strings and from any text that may carry
// them, so logs and reports never hold a secret.
package redact

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// URL returns a postgres URL with its password replaced by "xxxxx". Anything it cannot parse
// as a URL is passed through Text.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return Text(s)
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

var (
	urlPassRE = regexp.MustCompile(`(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@`)
	kvPassRE  = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s&]+)`)
)

// Text removes passwords from postgres URLs and password=... pairs anywhere in s.
func Text(s string) string {
	s = urlPassRE.ReplaceAllString(s, "${1}xxxxx@")
	return kvPassRE.ReplaceAllString(s, "${1}xxxxx")
}

// Printable is Text made safe to show: control characters (other than newline and tab) are
// written as Go escapes, so a probe's or CLI's raw output (an ESC sequence, a carriage
// return, a NUL) can never restyle a terminal, a Markdown table or an HTML report, and
// invalid UTF-8 shows as its bytes.
func Printable(s string) string {
	s = Text(s)
	clean := true
	for _, r := range s {
		if isControl(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case isControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isControl(r rune) bool {
	return r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f))
}
