// Package frametest builds Ethernet frames for tests and checks them with
// composable checkers. Frames are built and checked with gopacket, a second
// implementation independent of package frame, so that tests of frame and
// of its users compare against an oracle rather than against themselves.
//
// It is test support only: nothing outside _test.go files imports it.
package frametest
