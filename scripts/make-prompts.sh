#!/usr/bin/env bash
# Regenerates the service prompts under prompts/ (8 kHz mono 16-bit PCM WAV).
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox). The WAVs are committed,
# so this only has to be run when a text or the sound design changes. See prompts/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/prompts"
TARGET_RMS_DB=-16   # speech loudness, dBFS RMS as reported by `sox -n stats` ("RMS lev dB")
RATE_WPM=150        # a little slower than espeak's default 175, clearer on a phone line
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

command -v espeak-ng >/dev/null || { echo "espeak-ng not installed" >&2; exit 1; }
command -v sox >/dev/null || { echo "sox not installed" >&2; exit 1; }

rms_db() { sox "$1" -n stats 2>&1 | awk '/^RMS lev dB/ {print $4}'; }

# speak VOICE OUTFILE TEXT [PAD_BEFORE PAD_AFTER]
speak() {
  local voice="$1" out="$2" text="$3" before="${4:-0.2}" after="${5:-0.3}"
  espeak-ng -v "$voice" -s "$RATE_WPM" -w "$TMP/raw.wav" "$text"
  # Telephone band, 8 kHz, trim espeak's leading/trailing silence, then 200/300 ms of padding
  # (fragments of a sentence: 30/100 ms, so that the words follow each other as in speech; less for the
  # digits of a read-back, which follow each other).
  sox "$TMP/raw.wav" -r 8000 -c 1 -b 16 "$TMP/band.wav" \
    gain -6 highpass 120 lowpass 3400 \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
    pad "$before" "$after"
  # Bring speech to the target RMS. Speech has a ~20 dB crest factor, so `gain -l` engages
  # sox's limiter instead of clipping; further passes correct the small RMS loss it causes.
  local g
  cp "$TMP/band.wav" "$TMP/cur.wav"
  for _ in 1 2 3 4; do
    g="$(awk -v t="$TARGET_RMS_DB" -v r="$(rms_db "$TMP/cur.wav")" 'BEGIN { printf "%.2f", t - r }')"
    sox "$TMP/cur.wav" "$TMP/next.wav" gain -l "$g"
    mv "$TMP/next.wav" "$TMP/cur.wav"
  done
  mkdir -p "$(dirname "$out")"
  sox "$TMP/cur.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out"
  echo "$(basename "$(dirname "$out")")/$(basename "$out"): $(soxi -D "$out") s, RMS $(rms_db "$out") dBFS"
}

speak ru "$OUT/ru/offer.wav"              "Если вы хотите, чтобы мы перезвонили вам как можно скорее, нажмите 1."
speak ru "$OUT/ru/confirmation.wav"       "Спасибо! Мы перезвоним вам в ближайшее время. До свидания."
speak ru "$OUT/ru/request-failed.wav"     "К сожалению, нам не удалось зарегистрировать вашу заявку на обратный звонок. Пожалуйста, оставайтесь на линии."
speak ru "$OUT/ru/whisper.wav"            "Обратный звонок клиенту."
speak ru "$OUT/ru/customer-no-answer.wav" "Клиент не ответил."
speak ru "$OUT/ru/connecting.wav"         "Соединяю вас с клиентом."
speak ru "$OUT/ru/out-of-hours.wav"       "Сейчас нерабочее время, заказать обратный звонок можно в рабочие часы. Пожалуйста, оставайтесь на линии."
speak ru "$OUT/ru/confirmation-next-opening.wav" "Спасибо! Мы перезвоним вам, когда начнётся рабочее время. До свидания."
speak ru "$OUT/ru/hold-for-employee.wav"  "Соединяю вас с сотрудником, пожалуйста, оставайтесь на линии."

# ---- another number, anonymous callers, repeat callers (README "Another number") ----------
speak ru "$OUT/ru/offer-another-number.wav" "Если вы хотите, чтобы мы перезвонили вам как можно скорее, нажмите 1, и мы перезвоним на номер, с которого вы звоните. Чтобы указать другой номер, нажмите 2."
speak ru "$OUT/ru/offer-enter-number.wav"   "Если вы хотите, чтобы мы перезвонили вам как можно скорее, нажмите 1 и введите номер, на который вам перезвонить."
speak ru "$OUT/ru/enter-number.wav"         "Введите номер телефона, начиная с восьмёрки или кода страны, и нажмите решётку."
speak ru "$OUT/ru/number-invalid.wav"       "К сожалению, на этот номер мы перезвонить не можем."
speak ru "$OUT/ru/number-read-back.wav"     "Вы ввели номер"
speak ru "$OUT/ru/number-confirm.wav"       "Если номер верный, нажмите 1. Чтобы ввести его заново, нажмите 2."
speak ru "$OUT/ru/number-entry-failed.wav"  "К сожалению, нам не удалось принять номер. Пожалуйста, оставайтесь на линии."
speak ru "$OUT/ru/existing-request.wav"     "У вас уже есть заявка на обратный звонок. Чтобы сохранить её и завершить звонок, нажмите 1. Чтобы отменить её и остаться на линии, нажмите 2."
speak ru "$OUT/ru/request-cancelled.wav"    "Ваша заявка на обратный звонок отменена. Пожалуйста, оставайтесь на линии."
ru_digits=(ноль один два три четыре пять шесть семь восемь девять)
for d in 0 1 2 3 4 5 6 7 8 9; do speak ru "$OUT/ru/digits/$d.wav" "${ru_digits[$d]}" 0.05 0.1; done
speak ru "$OUT/ru/customer-confirm.wav"   "Это обратный звонок, который вы заказали. Чтобы соединиться с сотрудником, нажмите 1."

speak en "$OUT/en/offer.wav"              "If you want us to call you back as soon as possible, press 1."
speak en "$OUT/en/confirmation.wav"       "Thank you. We will call you back shortly. Goodbye."
speak en "$OUT/en/request-failed.wav"     "Sorry, we could not register your callback request. Please stay on the line."
speak en "$OUT/en/whisper.wav"            "Callback to a customer."
speak en "$OUT/en/customer-no-answer.wav" "The customer did not answer."
speak en "$OUT/en/connecting.wav"         "Connecting you to the customer."
speak en "$OUT/en/out-of-hours.wav"       "We are closed now. Callbacks can be requested during business hours. Please stay on the line."
speak en "$OUT/en/confirmation-next-opening.wav" "Thank you. We will call you back when we open. Goodbye."
speak en "$OUT/en/hold-for-employee.wav"  "Connecting you to an employee, please hold."

# ---- announcement fragments: prompts/<language>/fragments/<name>.wav, texts in prompts/fragments.tsv ----
# (the position and expected-wait announcements are played as a sequence of these: src/domain/announcement.ts)
rm -rf "$OUT/ru/fragments" "$OUT/en/fragments"
while IFS=$'\t' read -r lang name text; do
  case "$lang" in ''|'#'*) continue ;; esac
  speak "$lang" "$OUT/$lang/fragments/$name.wav" "$text" 0.03 0.1
done < "$OUT/fragments.tsv"

speak en "$OUT/en/offer-another-number.wav" "If you want us to call you back as soon as possible, press 1 to be called back on the number you are calling from, or press 2 to enter another number."
speak en "$OUT/en/offer-enter-number.wav"   "If you want us to call you back as soon as possible, press 1 and enter the number to call you back on."
speak en "$OUT/en/enter-number.wav"         "Enter the phone number, starting with 8 or the country code, then press the hash key."
speak en "$OUT/en/number-invalid.wav"       "Sorry, we cannot call back this number."
speak en "$OUT/en/number-read-back.wav"     "You entered"
speak en "$OUT/en/number-confirm.wav"       "If the number is correct, press 1. To enter it again, press 2."
speak en "$OUT/en/number-entry-failed.wav"  "Sorry, we could not take the number. Please stay on the line."
speak en "$OUT/en/existing-request.wav"     "You already have a callback request. Press 1 to keep it and hang up, or press 2 to cancel it and wait in line."
speak en "$OUT/en/request-cancelled.wav"    "Your callback request is cancelled. Please stay on the line."
en_digits=(zero one two three four five six seven eight nine)
for d in 0 1 2 3 4 5 6 7 8 9; do speak en "$OUT/en/digits/$d.wav" "${en_digits[$d]}" 0.05 0.1; done
speak en "$OUT/en/customer-confirm.wav"   "This is the callback you requested. To be connected, press 1."

# ---- hold music: ~20 s, I-vi-IV-V in C major, plucked-string arpeggios over a soft pad ------
# Plucked strings (Karplus-Strong in sox) are rich in harmonics and decay, so they never look
# like a DTMF pair of steady pure tones; the detector is checked against this file in
# test/unit/media/dtmf-detector.test.ts.
mkdir -p "$OUT/common"
bar=0
for chord in "C3 C4 E4 G4 C5 G4" "A2 A3 C4 E4 A4 E4" "F2 F3 A3 C4 F4 C4" "G2 G3 B3 D4 G4 D4" \
             "C3 E4 G4 C5 E5 C5" "A2 C4 E4 A4 C5 A4" "F2 A3 C4 F4 A4 F4" "G2 B3 D4 G4 B4 G4" \
             "C3 C4 E4 G4 C5 G4" "G2 G3 B3 D4 G4 C4"; do
  # shellcheck disable=SC2206
  notes=($chord)
  # One channel per note, each entering 1/3 s after the previous (delay), mixed to mono.
  synth_args=(); delays=()
  for i in "${!notes[@]}"; do
    synth_args+=(pluck "${notes[$i]}")
    delays+=("$(awk -v i="$i" 'BEGIN { printf "%.3f", i / 3 }')")
  done
  # (sox's pluck needs 44.1 kHz or more; everything is resampled to 8 kHz at the end.)
  sox -r 44100 -c "${#notes[@]}" -n "$TMP/arp$bar.wav" synth 2 "${synth_args[@]}" \
    delay "${delays[@]}" remix - trim 0 2
  # A quiet sustained pad: a triangle wave on the chord's bass note, with tremolo.
  sox -r 44100 -c 1 -n "$TMP/pad$bar.wav" synth 2 triangle "${notes[0]}" vol 0.15 tremolo 5 40 fade t 0.3 2 0.4
  sox -m "$TMP/arp$bar.wav" "$TMP/pad$bar.wav" "$TMP/bar$bar.wav"
  bar=$((bar + 1))
done
sox $(for i in $(seq 0 $((bar - 1))); do echo "$TMP/bar$i.wav"; done) "$TMP/music.wav" \
  reverb 30 50 60 fade t 0.5 "$((bar * 2))" 1.5   # explicit end: after reverb sox cannot infer it
g="$(awk -v r="$(rms_db "$TMP/music.wav")" 'BEGIN { printf "%.2f", -22 - r }')"
sox "$TMP/music.wav" -r 8000 -c 1 -b 16 -e signed-integer "$OUT/common/hold-music.wav" gain -l "$g"
echo "common/hold-music.wav: $(soxi -D "$OUT/common/hold-music.wav") s, RMS $(rms_db "$OUT/common/hold-music.wav") dBFS"

# ---- ringback: 425 Hz, 1 s on / 4 s off (Russian ringing tone), two cadences = 10 s --------
# Level −10 dBm0: peak 22736·10^(−10/20) ≈ 7190 = 0.2194 of full scale (0 dBm0 is 3.17 dB
# below a full-scale sine, ITU-T G.711 μ-law).
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$OUT/common/ringback.wav" \
  synth 1 sine 425 vol 0.2194 pad 0 4 repeat 1
echo "common/ringback.wav: $(soxi -D "$OUT/common/ringback.wav") s, RMS $(rms_db "$OUT/common/ringback.wav") dBFS"
