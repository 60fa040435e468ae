// Package redact removes passwords from connection strings and from any text that may carry
// them, so logs and reports never hold a secret.
package redact

import (
	"net/url"
	"regexp"
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
