package jwtauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A typical delegated Graph token: a handful of scopes, about 600 bytes.
func benchToken(b *testing.B) string {
	tok, err := testDevKey().Mint(TokenSpec{
		Tenant:  testTenant,
		Subject: testSubject,
		Scopes: []string{"DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All",
			"DeviceManagementConfiguration.Read.All", "User.Read", "openid", "profile"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkAuthenticateCached is the hot path: a token already verified.
func BenchmarkAuthenticateCached(b *testing.B) {
	v, err := NewDevVerifier(testDevKey())
	if err != nil {
		b.Fatal(err)
	}
	tok := benchToken(b)
	ctx := context.Background()
	if _, err := v.Authenticate(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A request's token is a string of its own, cut from its header, never the one cached: the
	// map's comparison of the two then reads all their bytes, where the same string is equal by
	// its pointer. The cache holds a clone of the token it first verified, so "serial" compares
	// the bytes too; this one keeps the comparison with builds that held the caller's string.
	fresh := strings.Clone(tok)
	b.Run("serial-fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Authenticate(ctx, fresh); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Authenticate(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAuthenticateUncached is a full verification: decode, signature, claims.
func BenchmarkAuthenticateUncached(b *testing.B) {
	dev := testDevKey()
	v, err := NewVerifier(Config{
		Keys:      []PublicKey{dev.PublicKey(), {KID: rsaKID, Key: &testRSAKey().PublicKey}},
		Issuers:   []string{DevIssuer},
		CacheSize: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		tok  string
	}{
		{"ES256", benchToken(b)},
		{"RS256", sign(b, jwt.SigningMethodRS256, testRSAKey(), rsaKID, claimsAtNow())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Authenticate(ctx, bc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func claimsAtNow() jwt.MapClaims { return claimsAt(time.Now()) }
