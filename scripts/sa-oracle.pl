#!/usr/bin/perl
# Oracle for tests/rules_corpus.rs: run SpamAssassin 4.0.1 in-process exactly
# as `spamassassin -L -t` would (local tests only, no Bayes => score set 0,
# required_score 5) over every *.eml of a directory and print one JSON line per
# message: file, score, required, is_spam, tests {RULE: summed score} and, for
# `tflags multiple` rules hit more than once, hits {RULE: count}. `__` sub-rules
# are never listed (SpamAssassin does not score them).
# Usage: perl scripts/sa-oracle.pl tests/fixtures/corpus > tests/fixtures/corpus/sa-verdicts.jsonl
use strict; use warnings;
use Mail::SpamAssassin; use JSON::PP;
my $dir = shift @ARGV or die "usage: $0 DIR\n";
opendir my $dh, $dir or die "$dir: $!";
my @files = sort grep { /\.eml$/ } readdir $dh;
my $sa = Mail::SpamAssassin->new({local_tests_only => 1, dont_copy_prefs => 1,
    userprefs_filename => '/dev/null', post_config_text => "use_bayes 0\n"});
$sa->init(1);
my $json = JSON::PP->new->canonical;
for my $f (@files) {
  # Slurp in its own block: a `local $/` left in force during check()
  # would turn every chomp inside SpamAssassin into a no-op.
  my $text = do { open my $fh, '<', "$dir/$f" or die "$f: $!"; local $/; <$fh> };
  my $m = $sa->parse($text);
  my $s = $sa->check($m);
  my $scores = $s->{conf}->{scores};
  my (%tests, %hits);
  for my $t (@{$s->{test_names_hit}}) {
    $tests{$t} += $scores->{$t} || 0;
    $hits{$t}++;
  }
  $tests{$_} = 0 + sprintf('%.3f', $tests{$_}) for keys %tests;
  my %multi = map { $_ => $hits{$_} } grep { $hits{$_} > 1 } keys %hits;
  my $score = 0 + sprintf('%.3f', $s->get_score);
  my $req = 0 + $s->get_required_score;
  print $json->encode({file => $f, score => $score, required => $req,
      is_spam => ($s->is_spam ? JSON::PP::true : JSON::PP::false),
      tests => \%tests, (%multi ? (hits => \%multi) : ())}), "\n";
  $s->finish; $m->finish;
}
