// Package workflows holds no code: its test lints the repository's GitHub Actions workflows
// (.github/workflows) with actionlint, so a broken nightly or release-gate workflow fails
// `go test` here rather than on GitHub. shellcheck, when on PATH, also checks their scripts.
package workflows
