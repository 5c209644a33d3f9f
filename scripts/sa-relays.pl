#!/usr/bin/perl
# Print SpamAssassin's relay strings (X-Spam-Relays-Trusted/-Untrusted) and
# unparseable count per message as JSON lines: the oracle for
# tests/fixtures/messages/sa-relays.jsonl. Usage: perl scripts/sa-relays.pl FILE...
use strict; use warnings;
use Mail::SpamAssassin; use JSON::PP; use File::Basename;
my $sa = Mail::SpamAssassin->new({local_tests_only => 1, dont_copy_prefs => 1, userprefs_filename => '/dev/null'});
$sa->init(1);
my $json = JSON::PP->new->canonical(1);
for my $f (@ARGV) {
  # Slurp in its own block: `local $/` in force during check() breaks SpamAssassin's chomps.
  my $t = do { open my $fh, '<', $f or die "$f: $!"; local $/; <$fh> };
  my $m = $sa->parse($t); my $pms = $sa->check($m);
  print $json->encode({file => basename($f), trusted => $pms->get('X-Spam-Relays-Trusted'),
    untrusted => $pms->get('X-Spam-Relays-Untrusted'), unparseable => $pms->{num_relays_unparseable} + 0}), "\n";
  $pms->finish; $m->finish;
}
