#!/bin/sh
# Configures Postfix as the how-to does, plus master.cf.snippet on the ports given by the
# environment, then runs Postfix in the foreground. Safe to run again on restart.
set -eu
: "${INBOUND_PORT:=2525}" "${FILTER_PORT:=10024}" "${REINJECT_PORT:=10025}" "${E2E_UID:=1000}"
DOMAIN=e2e.test
USER_NAME=e2e-user
HOME_DIR=/home/$USER_NAME

# The mailbox owner; its uid matches the host user running the tests, so they can read mail.
id "$USER_NAME" >/dev/null 2>&1 || useradd -M -d "$HOME_DIR" -u "$E2E_UID" -s /usr/sbin/nologin "$USER_NAME"
mkdir -p "$HOME_DIR"
chown "$USER_NAME": "$HOME_DIR"
if [ ! -d "$HOME_DIR/Maildir/new" ]; then
  su -s /bin/sh "$USER_NAME" -c "maildirmake $HOME_DIR/Maildir && maildirmake -f Junkmail $HOME_DIR/Maildir"
fi

# The how-to's maildroprc, delivering to ~/Maildir (Debian's maildroprc has that line commented).
{ echo 'DEFAULT="$HOME/Maildir"'; cat /etc/maildroprc.howto; } > /etc/maildroprc
touch /var/log/maildrop && chown "$USER_NAME": /var/log/maildrop

postconf -e \
  "myhostname=mx.$DOMAIN" "mydomain=$DOMAIN" 'myorigin=$mydomain' 'mydestination=$mydomain, localhost' \
  'inet_interfaces=127.0.0.1' 'inet_protocols=ipv4' 'mynetworks=127.0.0.0/8' 'relayhost=' \
  'home_mailbox=Maildir/' 'mailbox_command=/usr/bin/maildrop' \
  "content_filter=smtp-amavis:[127.0.0.1]:$FILTER_PORT" \
  'maillog_file=/var/log/postfix/mail.log' \
  'queue_run_delay=1s' 'minimal_backoff_time=1s' 'maximal_backoff_time=2s'
newaliases

# Host networking: leave port 25 to the host, listen on INBOUND_PORT instead.
postconf -MX smtp/inet
postconf -M "127.0.0.1:$INBOUND_PORT/inet=127.0.0.1:$INBOUND_PORT inet n - n - - smtpd"
# master.cf.snippet, once, with this container's ports.
if ! grep -q '^smtp-amavis' /etc/postfix/master.cf; then
  sed -e "s/10025/$REINJECT_PORT/g" -e "s/10024/$FILTER_PORT/g" /etc/postfix/master.cf.snippet >> /etc/postfix/master.cf
fi
# No chroot: start-fg does not prepare Debian's chroot jail (resolv.conf, etc.).
postconf -F '*/*/chroot = n'

mkdir -p /var/log/postfix
exec postfix start-fg
