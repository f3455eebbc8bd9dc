# Demo step (sourced by scripts/demo.sh): what this host lets obs do.
heading "obs doctor: what this host allows, and how to fix what it does not"
doctor_rc=0
"$OBS" doctor || doctor_rc=$?
if [ "$doctor_rc" -ne 0 ]; then
  if [ "$(id -u)" -ne 0 ] && [ "$doctor_rc" -eq 1 ]; then
    echo "(not root: the failed checks above are why the privileged steps below skip)"
  else
    echo "obs doctor exited $doctor_rc"
    return 1
  fi
fi
