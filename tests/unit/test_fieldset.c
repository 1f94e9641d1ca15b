/* test_fieldset.c - name lookup in a fieldset: case-insensitive, exact
 * length, every length up to the maximum (the eight-byte compare and its
 * tail), names that share a hash slot, names that differ only in a byte
 * the OR-0x20 trick would fold if the set allowed it (it does not). */
#include <stdio.h>
#include <string.h>

#include "../../core/fieldset.h"
#include "../../core/url.h"
#include "tap.h"

static const struct fieldset_entry table[] = {
    { "X-Forwarded-For", 1 }, { "Via", 2 }, { "Sec-CH-UA-Full-Version-List", 4 }, { "A", 8 },
    { "Cookie", 16 },         { "ECT", 32 }, { "Referer", 64 }, { "X-Forwarded", 128 },
};
static struct fieldset set = FIELDSET_INIT(table);

static unsigned cls(const char *name)
{
    return fieldset_class(&set, slice_make(name, strlen(name)));
}

static void test_lookup(void)
{
    ok(cls("X-Forwarded-For") == 1 && cls("x-forwarded-for") == 1 && cls("X-FORWARDED-FOR") == 1, "any case");
    ok(cls("X-Forwarded") == 128 && cls("X-Forwarded-Fo") == 0 && cls("X-Forwarded-For2") == 0, "exact length");
    ok(cls("via") == 2 && cls("Vi") == 0 && cls("Vias") == 0, "short names");
    ok(cls("sec-ch-ua-full-version-list") == 4, "a name longer than 24 bytes (three words and a tail)");
    ok(cls("a") == 8 && cls("b") == 0, "one byte");
    ok(cls("Cookie") == 16 && cls("Cookie2") == 0 && cls("Cookid") == 0, "a last byte differs");
    ok(cls("X_Forwarded-For") == 0, "'_' is not '-' folded");
    ok(cls("") == 0, "empty");
    char longname[64];
    memset(longname, 'x', sizeof(longname));
    ok(fieldset_class(&set, slice_make(longname, sizeof(longname))) == 0, "longer than any name in a set");
}

/* every name of every length 1..32 is found, in any case, and its
 * one-byte-shorter prefix is not */
static void test_every_length(void)
{
    static char names[32][33];
    static struct fieldset_entry many[32];
    for (int n = 1; n <= 32; n++) {
        for (int k = 0; k < n; k++)
            names[n - 1][k] = (char)("abcdefghijklmnopqrstuvwxyz0123456789-"[(n * 7 + k * 3) % 37]);
        names[n - 1][0] = 'a' + (char)(n % 26);
        names[n - 1][n] = '\0';
        many[n - 1].name = names[n - 1];
        many[n - 1].cls = (unsigned)n;
    }
    struct fieldset s = FIELDSET_INIT(many);
    int found = 0, prefix_found = 0;
    for (int n = 1; n <= 32; n++) {
        char upper[33];
        for (int k = 0; k <= n; k++)
            upper[k] = (char)(names[n - 1][k] >= 'a' && names[n - 1][k] <= 'z' ? names[n - 1][k] - 32 : names[n - 1][k]);
        found += fieldset_class(&s, slice_make(upper, (size_t)n)) == (unsigned)n;
        unsigned c = fieldset_class(&s, slice_make(names[n - 1], (size_t)n - 1));
        prefix_found += c != 0 && c != (unsigned)(n - 1);
    }
    ok(found == 32, "all 32 lengths found in upper case (%d)", found);
    ok(prefix_found == 0, "no prefix matches another name");
}

static void test_url(void)
{
    struct url_origin o;
    ok(url_parse_origin(SLICE_LIT("https://user:pw@Shop.Example:8443/a?b#c"), &o) &&
           slice_eq(o.host, "Shop.Example", 12) && o.port == 8443 && slice_eq(o.authority, "Shop.Example:8443", 17) &&
           o.rest == 33,
       "userinfo dropped, port read, rest found");
    ok(url_parse_origin(SLICE_LIT("http://[2001:db8::1]/x"), &o) && slice_eq(o.host, "2001:db8::1", 11) && o.port == 80,
       "IPv6 without brackets, default port");
    ok(url_parse_origin(SLICE_LIT("HTTPS://a"), &o) && o.port == 443 && o.rest == 9, "scheme in any case, no path");
    ok(!url_parse_origin(SLICE_LIT("ftp://a/"), &o) && !url_parse_origin(SLICE_LIT("http:/a"), &o) &&
           !url_parse_origin(SLICE_LIT("http://"), &o) && !url_parse_origin(SLICE_LIT("http://a:99999/"), &o) &&
           !url_parse_origin(SLICE_LIT("http://[::1/"), &o) && !url_parse_origin(SLICE_LIT("/relative"), &o),
       "refused: other schemes, no authority, bad port, open bracket, relative");
}

int main(void)
{
    test_lookup();
    test_every_length();
    test_url();
    return tap_done("fieldset");
}
