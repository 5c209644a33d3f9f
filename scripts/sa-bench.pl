#!/usr/bin/perl
# Time SpamAssassin's in-process check() on the same files as benches/rules.rs
# (local tests, no Bayes = score set 0): rule load time, then per-message CPU
# of $sa->check after one warm-up pass; prints median and mean in ms.
# Usage: perl scripts/sa-bench.pl [ROUNDS] FILE...
use strict; use warnings;
use Mail::SpamAssassin; use Time::HiRes qw(time clock_gettime CLOCK_PROCESS_CPUTIME_ID);
my $rounds = ($ARGV[0] // '') =~ /^\d+$/ ? shift @ARGV : 5;
my @files = @ARGV or die "usage: $0 [ROUNDS] FILE...\n";
my @msgs = map { open my $fh, '<', $_ or die "$_: $!"; local $/; my $t = <$fh>; $t } @files;
my $t0 = clock_gettime(CLOCK_PROCESS_CPUTIME_ID);
my $sa = Mail::SpamAssassin->new({local_tests_only => 1, dont_copy_prefs => 1,
    userprefs_filename => '/dev/null', post_config_text => "use_bayes 0\n"});
$sa->init(1);
my $load = clock_gettime(CLOCK_PROCESS_CPUTIME_ID) - $t0;
my $check = sub { my $m = $sa->parse($_[0]); my $s = $sa->check($m); my $sc = $s->get_score; $s->finish; $m->finish; $sc };
$check->($_) for @msgs;    # warm-up
my @times;
for (1..$rounds) {
  for my $t (@msgs) {
    my $c0 = clock_gettime(CLOCK_PROCESS_CPUTIME_ID);
    $check->($t);
    push @times, clock_gettime(CLOCK_PROCESS_CPUTIME_ID) - $c0;
  }
}
@times = sort { $a <=> $b } @times;
my $med = $times[int(@times / 2)];
my $mean = 0; $mean += $_ for @times; $mean /= @times;
printf "SpamAssassin %s: load+compile %.3f s CPU; check over %d messages x %d rounds: median %.2f ms, mean %.2f ms CPU\n",
  Mail::SpamAssassin::Version(), $load, scalar(@msgs), $rounds, $med * 1000, $mean * 1000;
