package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/awacompat/awacompat/internal/report"
	"github.com/awacompat/awacompat/internal/results"
)

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "`format`: table")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "awacompat report: want one results folder")
		return exitUsage
	}
	res, err := results.Read(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitUsage
	}
	switch *format {
	case "table":
		report.Table(stdout, res)
	default:
		fmt.Fprintf(stderr, "awacompat report: unknown --format %q\n", *format)
		return exitUsage
	}
	return exitOK
}
