#!/usr/bin/env python3
"""Writes the committed seed corpora (fuzz/corpus/<target>/seed-*).

Run from the repository root: python3 fuzz/make_seeds.py
Messages come from tests/fixtures/messages; archives are built here the way
tests/common/build.rs builds them; .cf and amavisd.conf snippets are short
hand-written excerpts in SpamAssassin's / amavisd's syntax.
"""
import base64, bz2, glob, gzip, io, lzma, os, tarfile, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- archives
def pe_exe():
    v = bytearray(0x200)
    v[0:2] = b"MZ"
    v[0x3C] = 0x40
    o = 0x40
    v[o:o + 4] = b"PE\0\0"
    v[o + 4:o + 6] = (0x14C).to_bytes(2, "little")
    v[o + 6:o + 8] = (1).to_bytes(2, "little")
    v[o + 20:o + 22] = (0xE0).to_bytes(2, "little")
    v[o + 22:o + 24] = (0x0102).to_bytes(2, "little")
    v[o + 24:o + 26] = (0x10B).to_bytes(2, "little")
    v[o + 24 + 68:o + 24 + 70] = (2).to_bytes(2, "little")
    return bytes(v)


def mkzip(files, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for n, d in files:
            z.writestr(n, d)
    return b.getvalue()


def mktar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:
        for n, d in files:
            ti = tarfile.TarInfo(n)
            ti.size = len(d)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(d))
    return b.getvalue()


def rar4(files):
    v = bytearray(b"Rar!\x1a\x07\x00")
    v += bytes([0, 0, 0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0])
    for name, data, enc in files:
        name = name.encode()
        flags = 0x8000 | (0x04 if enc else 0)
        v += bytes([0, 0, 0x74]) + flags.to_bytes(2, "little")
        v += (32 + len(name)).to_bytes(2, "little")
        v += len(data).to_bytes(4, "little") * 2
        v += bytes([2]) + bytes(8) + bytes([29, 0x30])
        v += len(name).to_bytes(2, "little") + (0x20).to_bytes(4, "little")
        v += name + data
    v += bytes([0, 0, 0x7B, 0, 0x40, 7, 0])
    return bytes(v)


def vint(x):
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        if x == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def rar5(files):
    def block(h, d=b""):
        return bytes(4) + vint(len(h)) + h + d

    v = bytearray(b"Rar!\x1a\x07\x01\x00") + block(bytes([1, 0, 0]))
    for name, data, enc in files:
        name = name.encode()
        extra = bytes([3, 1, 0, 0]) if enc else b""
        h = vint(2) + vint(3 if extra else 2)
        if extra:
            h += vint(len(extra))
        h += vint(len(data)) + vint(0) + vint(len(data)) + vint(0x20) + vint(0) + vint(0)
        h += vint(len(name)) + name + extra
        v += block(h, data)
    v += block(bytes([5, 0, 0]))
    return bytes(v)


EXE = pe_exe()
TXT = b"hello, world\n" * 4
KIND = {"zip": 0, "tar": 1, "gz": 2, "bz2": 3, "xz": 4, "7z": 5, "rar": 6}
inner_zip = mkzip([("inner/invoice.exe", EXE), ("readme.txt", TXT)])
archives = {
    "zip-deflate": ("zip", mkzip([("a.txt", TXT), ("dir/", b""), ("b.exe", EXE)])),
    "zip-stored": ("zip", mkzip([("x.txt", TXT)], zipfile.ZIP_STORED)),
    "zip-nested": ("zip", mkzip([("inner.zip", inner_zip)])),
    "zip-empty": ("zip", mkzip([])),
    "tar": ("tar", mktar([("a.txt", TXT), ("sub/b.exe", EXE)])),
    "tar-longname": ("tar", mktar([("d/" + "x" * 120 + ".txt", TXT)])),
    "gz": ("gz", gzip.compress(TXT, mtime=0)),
    "gz-tar": ("gz", gzip.compress(mktar([("t.exe", EXE)]), mtime=0)),
    "bz2": ("bz2", bz2.compress(TXT)),
    "bz2-zip": ("bz2", bz2.compress(inner_zip)),
    "xz": ("xz", lzma.compress(TXT, format=lzma.FORMAT_XZ, preset=1)),
    "xz-tar": ("xz", lzma.compress(mktar([("a.txt", TXT)]), format=lzma.FORMAT_XZ, preset=1)),
    "rar4": ("rar", rar4([("a.txt", TXT, False), ("secret.exe", EXE, True)])),
    "rar5": ("rar", rar5([("a.txt", TXT, False), ("secret.exe", EXE, True)])),
}
for f in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/scan/*.7z"))):
    archives[os.path.basename(f)[:-3] + "-7z"] = ("7z", open(f, "rb").read())
for name, (kind, data) in archives.items():
    write("archive_list", name, bytes([KIND[kind]]) + data)

# ---------------------------------------------------------------- messages
def b64lines(d):
    s = base64.b64encode(d).decode()
    return "".join(s[i:i + 76] + "\r\n" for i in range(0, len(s), 76))


def multipart(atts):
    m = ("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: test\r\n"
         "Date: Wed, 25 Nov 2026 21:16:27 +0000\r\nMessage-ID: <t@example.org>\r\n"
         "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n"
         "--XyZ\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nPlease see the attachment.\r\n")
    for name, ctype, data in atts:
        m += (f"--XyZ\r\nContent-Type: {ctype}; name=\"{name}\"\r\n"
              f"Content-Disposition: attachment; filename=\"{name}\"\r\n"
              "Content-Transfer-Encoding: base64\r\n\r\n") + b64lines(data)
    return (m + "--XyZ--\r\n").encode()


messages = {}
for f in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/messages/*.eml"))):
    d = open(f, "rb").read()
    if len(d) <= 20000:
        messages[os.path.basename(f)[:-4]] = d
messages["att-exe"] = multipart([("invoice.exe", "application/octet-stream", EXE)])
messages["att-zip"] = multipart([("docs.zip", "application/zip", inner_zip)])
messages["att-rar"] = multipart([("x.rar", "application/x-rar", rar5([("a.exe", EXE, True)]))])
messages["att-gz"] = multipart([("x.tar.gz", "application/gzip", gzip.compress(mktar([("y.scr", TXT)]), mtime=0))])
messages["no-blank-line"] = b"From: a@example.org\r\nSubject: x\r\n"
messages["unterminated"] = b"From: a@example.org\r\nSubject: no newline"
messages["body-only"] = b"this is not a header\r\nSubject: later\r\n"
messages["folded"] = (b"Subject:\r\n folded\r\n\tagain\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes,\r\n score=9\r\n"
                      b"From: <a@b>\r\nFrom: <c@d>\r\nX-Bad: caf\xe9\r\nX-Nul: a\0b\r\n \r\n\r\nbody\r\n")
messages["lf-only"] = b"From: a@b\nTo: c@d\nSubject: lf\n\nbody\n"
messages["nested-rfc822"] = (b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
                             b"From: c@d\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
                             b"Content-Type: application/octet-stream; name=\"x.exe\"\r\n\r\nMZ\r\n--q--\r\n")
messages["ambiguous-boundary"] = (b"From: a@b\r\nContent-Type: multipart/mixed; boundary=\"a\"; boundary=\"b\"\r\n\r\n"
                                  b"--a\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n\r\ny\r\n--a--\r\n")
for i, (name, d) in enumerate(sorted(messages.items())):
    write("mime_splice", name, bytes([i % 4]) + d)

# ---------------------------------------------------------------- SMTP
def stuff(msg):
    lines = msg.replace(b"\r\n", b"\n").split(b"\n")
    out = b"\r\n".join((b"." + l) if l.startswith(b".") else l for l in lines)
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out + b".\r\n"


small = messages["satdata__nice__001"] if "satdata__nice__001" in messages else b"Subject: hi\r\n\r\nhi\r\n"
smtp = {
    "plain": b"EHLO mx.example.com\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
             + stuff(b"From: a@example.org\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n") + b"QUIT\r\n",
    "pipelined": b"EHLO mx.example.com\r\nMAIL FROM:<alice@example.org> BODY=8BITMIME\r\n"
                 b"RCPT TO:<bob@example.com> NOTIFY=FAILURE ORCPT=rfc822;bob@example.com\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n"
                 + stuff(small) + b"QUIT\r\n",
    "lmtp": b"LHLO mx.example.com\r\nMAIL FROM:<a@example.org> SIZE=5000\r\nRCPT TO:<bob@example.com>\r\n"
            b"RCPT TO:<nobody@example.com>\r\nDATA\r\n" + stuff(b"Subject: x\r\n\r\ny\r\n") + b"QUIT\r\n",
    "xforward": b"EHLO mx.example.com\r\nXFORWARD NAME=client.example.org ADDR=192.0.2.10 PORT=54321 PROTO=ESMTP HELO=client.example.org\r\n"
                b"XFORWARD IDENT=4XyZ1234abc SOURCE=REMOTE\r\nMAIL FROM:<> BODY=7BIT ENVID=AM.x+2Dy\r\n"
                b"RCPT TO:<alice@example.org> ORCPT=rfc822;alice@example.org\r\nDATA\r\n" + stuff(b"Subject: b\r\n\r\nb\r\n"),
    "misc": b"HELO x\r\nNOOP\r\nVRFY bob\r\nHELP\r\nRSET\r\nSTARTTLS\r\nAUTH PLAIN AGFiYwBkZWY=\r\nBDAT 5 LAST\r\nhelloETRN x\r\nQUIT\r\n",
    "errors": b"MAIL FROM:<a@b>\r\nEHLO\r\nRCPT TO:<b@c>\r\nDATA\r\nEHLO h\r\nMAIL FROM:<a@b> SIZE=99999999999999\r\n"
              b"MAIL FROM:<a@b>\r\nMAIL FROM:<c@d>\r\nRCPT TO:<>\r\nRCPT TO:<\"odd>name\"@b> NOTIFY=NEVER\r\nbogus\r\n\r\n",
    "long-line": b"EHLO h\r\nMAIL FROM:<" + b"a" * 5000 + b"@b>\r\nQUIT\r\n",
    "bare-lf": b"EHLO h\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nSubject: x\n\n.\n.\nQUIT\n",
    "two-transactions": b"EHLO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + stuff(b"Subject: 1\r\n\r\n1\r\n")
                        + b"MAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\n" + stuff(b"Subject: 2\r\n\r\n2\r\n") + b"QUIT\r\n",
    "virus-attachment": b"EHLO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + stuff(messages["att-exe"]) + b"QUIT\r\n",
    "smtputf8": "EHLO h\r\nMAIL FROM:<j\u00f6rg@b\u00fccher.example> SMTPUTF8\r\nRCPT TO:<\u00fc@example.com>\r\nQUIT\r\n".encode(),
    "truncated-data": b"EHLO h\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: never ends\r\n\r\nbody",
}
for name, d in smtp.items():
    write("smtp_session", name, d)

# ---------------------------------------------------------------- .cf
cf = {
    "basic": "header   SUBJ_FREE  Subject =~ /\\bfree\\b/i\ndescribe SUBJ_FREE  Subject says free\nscore    SUBJ_FREE  1.5\n",
    "body-uri": "body  BODY_VIAGRA /v[i1]agra/i\nscore BODY_VIAGRA 2.0\nrawbody RAW_X /<script/i\nuri  URI_IP  m{^https?://\\d+\\.\\d+\\.\\d+\\.\\d+}\nfull FULL_X /^X-Foo: bar$/m\n",
    "meta": "header __A From =~ /example/\nheader __B To =~ /example/\nmeta  AB  (__A && !__B) || (__A + __B > 1)\nscore AB  0.5 1.0 1.5 2.0\n",
    "conditionals": "ifplugin Mail::SpamAssassin::Plugin::MIMEEval\nbody MIME_X eval:check_for_mime('mime_attachment')\nendif\n"
                    "if (version >= 3.004000)\nheader NEWER exists:X-Mailer\nelse\nheader OLDER exists:X-Old\nendif\nif can(Mail::SpamAssassin::Conf::feature_bug6558_free)\nlang de describe X y\nendif\n",
    "eval": "header MISSING_DATE eval:check_header_count_range('Date','0','0')\n"
            "header FREEMAIL_FROM eval:check_freemail_from()\nfreemail_domains gmail.com *.yahoo.com\n"
            "body  HTML_X eval:html_text_match('title','\\btest\\b')\nrequired_score 6.2\n",
    "tflags-priority": "body T1 /test/\ntflags T1 multiple maxhits=3 nice\npriority T1 -100\nscore T1 -0.5\nheader T2 ALL =~ /^received: .*\\bfoo/ism\n"
                       "header T3 From:addr =~ /@example\\.com$/\nheader T4 Subject:raw !~ /=\\?/\nmimeheader T5 Content-Type =~ /zip/\n",
    "replace-tags": "replace_start <\nreplace_end >\nreplace_tag FOO (?:f|ph)\nbody R1 /<FOO>ree/\nreplace_rules R1\nreplace_inter  WS [\\s]{0,3}\n",
    "settings": "report_safe 0\ntrusted_networks 192.0.2.0/24\ninternal_networks 10.0.0.0/8\nclear_util_rb\nutil_rb_tld com net\nloadplugin Foo::Bar\nunknown_directive yes\n",
    "lint-bait": "header BAD_RE Subject =~ /(/\nbody  BAD2 /[z-a]/\nscore NONEXIST 1\nmeta M1 (UNKNOWN_RULE &&\nendif\nelse\nif\n",
    "perl-regex": "body PCRE_X /(?<=foo)bar(?=baz)|\\p{L}{5,}+|(a)\\1/\nbody POSIX_X /[[:alpha:]]{3}\\z/\nheader H_X Subject =~ /^(?:\\xe9|é)/\n",
}
for name, d in cf.items():
    write("cf_parse", name, d)

# ---------------------------------------------------------------- amavisd.conf
for f in ["tests/fixtures/migrate/seed-howto.conf", "tests/fixtures/migrate/features.conf", "tests/fixtures/migrate/tables.conf"]:
    p = os.path.join(ROOT, f)
    if os.path.exists(p):
        write("amavisd_conf", os.path.basename(f), open(p, "rb").read())
conf = {
    "scalars": "use strict;\n$max_servers = 4;\n$mydomain = 'example.com';\n$myhostname = \"mx.$mydomain\";\n$sa_tag_level_deflt = 2.0;\n"
               "$final_spam_destiny = D_DISCARD;\n@local_domains_acl = ( \".$mydomain\" );\n1;  # ensure a defined return\n",
    "lists": "@bypass_spam_checks_maps = (\\%bypass_spam_checks, \\@bypass_spam_checks_acl, \\$bypass_spam_checks_re);\n"
             "@mynetworks = qw( 127.0.0.0/8 [::1] [FE80::]/10 10.0.0.0/8 );\n"
             "$banned_filename_re = new_RE(\n  qr'\\.[^./]*\\.(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)\\.?$'i,\n  [ qr'^\\.(Z|gz|bz2)$' => 0 ],\n  qr'^application/x-msdownload$'i,\n);\n",
    "hashes": "%virus_lovers = ('user@example.com' => 1);\n$policy_bank{'MYNETS'} = { bypass_spam_checks_maps => [1], originating => 1 };\n"
              "$interface_policy{'10026'} = 'ORIGINATING';\n@av_scanners = (\n ['ClamAV-clamd', \\&ask_daemon, [\"CONTSCAN {}\\n\", \"/var/run/clamav/clamd.ctl\"],\n  qr/\\bOK$/m, qr/\\bFOUND$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND$/m ],\n);\n",
    "control-flow": "my $x = 3;\nif ($x > 2) { $log_level = 2 } elsif ($x) { $log_level = 1 } else { $log_level = 0 }\n"
                    "foreach my $d (qw(a b)) { push @local_domains_acl, \".$d.example\" }\n$sa_spam_subject_tag = '***SPAM*** ' unless defined $sa_spam_subject_tag;\n"
                    "sub foo { return 1 }\n$enable_db = 1 if -e '/nonexistent';\n$MYHOME = '/var/lib/amavis';\n$TEMPBASE = \"$MYHOME/tmp\";\n",
    "heredoc-strings": "$notify_virus_sender_templ = <<'EOF';\nVirus %V found\nEOF\n$X_HEADER_LINE = sprintf(\"%s at %s\", 'amavisd', lc('EXAMPLE.COM'));\n"
                       "$myhostname = join('.', 'mx', 'example', 'com');\n$sa_kill_level_deflt = 6.31 * 1;\n$s = \"a\" x 3 . 'b';\n",
    "read-hash": "read_hash(\\%whitelist_sender, '/nonexistent/whitelist');\n@whitelist_sender_maps = (read_hash('/nonexistent/x'));\n"
                 "$myhostname = `hostname -f`; chomp $myhostname;\ninclude_config_files('/nonexistent/amavisd.conf.local');\n",
}
for name, d in conf.items():
    write("amavisd_conf", name, d)
