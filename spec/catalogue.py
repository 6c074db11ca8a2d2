"""The rule catalogue: every provider rule qsession implements, once, with its source.

Every source is something a user can open: a public provider documentation page (its title,
URL and section), an SDK file with the SDK's version, or recorded service behaviour with where
it was recorded. Where the sources are ambiguous or silent, ``reading`` says which reading
qsession chose and why, and says so when the reading goes beyond the sources.
"""

from __future__ import annotations

import attrs

IBM_INTRO = (
    'IBM Quantum docs "Introduction to Qiskit Runtime sessions"'
    " (https://docs.quantum.ibm.com/guides/sessions)"
)
IBM_API = (
    'IBM Quantum docs, qiskit-ibm-runtime API reference "Session"'
    " (https://quantum.cloud.ibm.com/docs/en/api/qiskit-ibm-runtime/session)"
)
IBM_RUN = (
    'IBM Quantum docs "Run jobs in a session"'
    " (https://quantum.cloud.ibm.com/docs/en/guides/run-jobs-session)"
)
IBM_BATCH = (
    'IBM Quantum docs "Run jobs in a batch"'
    " (https://quantum.cloud.ibm.com/docs/en/guides/run-jobs-batch)"
)
IBM_MODES = (
    'IBM Quantum docs "Introduction to execution modes"'
    " (https://quantum.cloud.ibm.com/docs/en/guides/execution-modes)"
)
IBM_FAQ = (
    'IBM Quantum docs "Execution modes FAQs"'
    " (https://quantum.cloud.ibm.com/docs/en/guides/execution-modes-faq)"
)
IBM_MAX_EXECUTION = (
    'IBM Quantum docs "Maximum execution time for Qiskit Runtime workloads"'
    " (https://quantum.cloud.ibm.com/docs/en/guides/max-execution-time)"
)
IBM_SDK = "qiskit-ibm-runtime 0.51.0, qiskit_ibm_runtime/"
AZURE_SESSIONS = (
    'Microsoft Learn "Interactive quantum computing: sessions", now titled "Get started with'
    ' sessions" (https://learn.microsoft.com/en-us/azure/quantum/hybrid-computing-interactive)'
)
AZURE_HOWTO = (
    'Microsoft Learn "How to manage your sessions"'
    " (https://learn.microsoft.com/en-us/azure/quantum/how-to-work-with-sessions)"
)
AZURE_QUANTINUUM = (
    'Microsoft Learn "Quantinuum provider"'
    " (https://learn.microsoft.com/en-us/azure/quantum/provider-quantinuum)"
)
AZURE_SDK = "azure-quantum 3.13.0, azure/quantum/"
AZURE_RECORDINGS = (
    "the live-service recordings in microsoft/azure-quantum-python at commit a73842f7,"
    " azure-quantum/tests/unit/recordings/ (https://github.com/microsoft/azure-quantum-python)"
)
CONTRACT = "qsession's own contract, README 'The core in one screen'"


@attrs.frozen
class Rule:
    """One rule: an id, the rule in one sentence, where it comes from, and any reading chosen."""

    id: str
    provider: str
    sentence: str
    source: str
    reading: str | None = None


RULES: tuple[Rule, ...] = (
    Rule(
        "EVENT-TIME-ORDER",
        "any",
        "An event earlier than the session's last event, or at a non-finite time, is refused"
        " with InvalidEventError.",
        CONTRACT + " (time is an input: a float on the caller's one monotonic clock)",
    ),
    Rule(
        "EVENT-UNKNOWN-JOB",
        "any",
        "A job event for a job id the session never accepted is refused with InvalidEventError.",
        CONTRACT + "; Qiskit/qiskit-ibm-runtime#2398, service.jobs(session_id=...) answers"
        " [] for an unknown id (https://github.com/Qiskit/qiskit-ibm-runtime/issues/2398)",
        reading="The services answer unknown ids silently; qsession refuses them so a host's"
        " bookkeeping bug surfaces at once.",
    ),
    Rule(
        "EVENT-DUPLICATE-JOB",
        "any",
        "Submitting a job id the session already has is refused with InvalidEventError.",
        CONTRACT + " (ids are given by the caller; a job id names one job of the session)",
    ),
    Rule(
        "EVENT-ERROR-NO-CHANGE",
        "any",
        "A refused event leaves the session exactly as it was: no state, job or timer changes.",
        CONTRACT + " (a refused event raises a typed error and changes nothing)",
    ),
    Rule(
        "TIMER-ORDER",
        "any",
        "An event at time t first fires every timer due by t, in deadline order, each at its"
        " own deadline; the result equals advancing to each deadline in turn.",
        CONTRACT + " (timers are data: next_deadline, advance(to=...))",
        reading="A timer due exactly at an event's time fires before that event: the"
        " documents give deadlines as instants, and firing first makes a submission at the"
        " very instant of expiry see the expired session, as the server would.",
    ),
    Rule(
        "TIMER-DEADLINE",
        "any",
        "next_deadline is exactly the earliest instant at which a timer rule would change the"
        " session, or None when no timer is armed; advancing to it moves it on.",
        CONTRACT + " (next_deadline: when the next timer fires if nothing else happens)",
    ),
    Rule(
        "JOB-LIFECYCLE",
        "any",
        "A job goes queued -> running -> completed | failed | cancelled, or queued -> failed |"
        " cancelled; any other job event is refused with InvalidEventError.",
        IBM_SDK + "runtime_job_v2.py (API_TO_JOB_STATUS: Queued, Running, Completed, Failed,"
        " Cancelled); " + AZURE_SDK + "_client/models/_enums.py (JobStatus)",
    ),
    Rule(
        "JOB-TERMINAL-FINAL",
        "any",
        "A completed, failed or cancelled job never changes again.",
        IBM_SDK
        + "runtime_job_v2.py (JOB_FINAL_STATES); "
        + AZURE_SDK
        + "job/job.py (Job.has_completed)",
    ),
    Rule(
        "JOB-TIMES",
        "any",
        "Each job records the time of its submission, start and end as the events gave them.",
        IBM_API
        + ", details() (last_job_started, last_job_completed); "
        + AZURE_SDK
        + "_client/models/_models.py (JobDetails beginExecutionTime, endExecutionTime)",
    ),
    Rule(
        "JOB-CONSERVATION",
        "any",
        "No job is ever lost: after each event the session holds every job it accepted, each in"
        " exactly one state.",
        CONTRACT + " (every job the session accepted is in session.jobs)",
    ),
    Rule(
        "IBM-PLAN-LIMITS",
        "ibm",
        "A premium-plan session has interactive TTL 60 s and max TTL 8 h unless max_time is"
        " lower; a batch has interactive TTL 1 s and max TTL 10 min by default on every plan.",
        IBM_RUN
        + ', section "Specify the session length" (Default values table); '
        + IBM_BATCH
        + ', section "Specify the batch length"',
        reading="A batch's max_time may be raised up to the plan's 8 h maximum: the batch page"
        " says max_time is set in the same way as for sessions. The footnote that some Premium"
        " instances differ is left to the adapters, which read the values from details().",
    ),
    Rule(
        "IBM-MAXTIME-FORMAT",
        "ibm",
        "max_time is a positive int of seconds or a string of whole units in d h m s order such"
        " as '2h 30m 40s', at most the plan maximum; anything else is a PolicyError.",
        IBM_API
        + " (max_time: seconds or a string like '2h 30m 40s'); "
        + IBM_SDK
        + "utils/converters.py (hms_to_seconds)",
        reading="Stricter than qiskit-ibm-runtime, which reads '1.5h' as 5 h and ignores junk"
        " around units: a value the client would silently misread is refused instead. The API"
        " page says the value 'must be less than the system imposed maximum'; qsession accepts"
        " the maximum itself (8 h), because the service's own default max_ttl is that maximum"
        " (28800 s, the Default values table), so a session asking for it asks for the default.",
    ),
    Rule(
        "IBM-OPEN-PLAN-NO-SESSION",
        "ibm",
        "Open Plan users cannot open a dedicated session (a PolicyError says to use a batch);"
        " batches are allowed.",
        IBM_RUN + " ('Open Plan users cannot submit session jobs'; the code block that 'will"
        " return an error for users on the Open Plan')",
        reading="The current page (an error) wins over the older note of "
        + IBM_INTRO
        + " (jobs silently run in job mode): failing early is what the current service does.",
    ),
    Rule(
        "IBM-START-ON-FIRST-JOB-START",
        "ibm",
        "A session starts, and becomes active, when its first job starts running, not when it"
        " is created or its first job submitted; an open session never closes with a job"
        " still queued.",
        IBM_API + " ('A session is started when the first job within the session is started');"
        " " + IBM_MODES + " ('When the first job starts running, the maximum TTL timer starts')",
    ),
    Rule(
        "IBM-MAXTTL-FROM-START",
        "ibm",
        "The max TTL runs from the session's start and never pauses: at start + max_time the"
        " session closes, whatever its state, and never before.",
        IBM_MODES
        + " ('does not stop or pause'); "
        + IBM_RUN
        + ', section "Specify the session length"',
    ),
    Rule(
        "IBM-MAXTTL-QUEUED-FAIL",
        "ibm",
        "When the max TTL is reached, every job still queued fails.",
        IBM_MODES + " ('the workload ends and any remaining queued jobs fail'); " + IBM_RUN,
        reading=IBM_RUN + " and " + IBM_INTRO + ' say "cancellation of all queued jobs" in'
        ' their "End a session" lists; the execution-modes page says they fail, so the max TTL'
        " fails them and cancel() cancels them.",
    ),
    Rule(
        "IBM-RUNNING-FINISHES",
        "ibm",
        "When the max TTL is reached or the session is cancelled, the running job keeps running"
        " and may still complete or fail.",
        IBM_INTRO
        + ' ("the QPU finishes running any job that is currently running"); '
        + IBM_MAX_EXECUTION
        + " ('Any jobs currently running in that session or batch will run to completion')",
        reading="The session is 'closed' from that instant (it 'immediately closes'); the"
        " running job's end is still accepted in the closed state.",
    ),
    Rule(
        "IBM-ITTL-DEACTIVATE",
        "ibm",
        "The interactive TTL restarts when a job ends; if no job is queued or running when it"
        " lapses, the active session becomes inactive and loses its priority.",
        IBM_MODES
        + " ('The interactive TTL timer starts after each job is completed'); "
        + IBM_RUN
        + " ('If no session jobs are queued within that window, the session is temporarily"
        " deactivated')",
        reading="Any job end (completed, failed or cancelled) restarts the timer, since each"
        " frees the QPU; a job submitted within the window keeps the session active.",
    ),
    Rule(
        "IBM-REACTIVATE",
        "ibm",
        "An inactive session still accepts jobs; its next job queues normally and reactivates"
        " the session when it starts, until the max TTL.",
        IBM_MODES
        + " (a later job must 'go through the normal queue to reactivate' it); "
        + IBM_API
        + ", status() ('It will become active when the next job of this session is dequeued')",
    ),
    Rule(
        "IBM-CLOSE-DRAINS",
        "ibm",
        "close() stops accepting jobs; queued and running jobs still run, and the session"
        " closes when the last one ends, at once if none is left.",
        IBM_RUN + ', section "Close a session" ("After all jobs are completed, the session is'
        ' immediately closed"); ' + IBM_SDK + "session.py (close(): PATCH accepting_jobs=false)",
    ),
    Rule(
        "IBM-BATCH-ENDS",
        "ibm",
        "A closed batch ends when its last job ends (at once if none is left); a batch left"
        " open goes inactive 1 s after its last job ends and closes at its max TTL.",
        IBM_BATCH
        + " (interactive TTL 1 s); "
        + IBM_FAQ
        + " (a batch ends automatically after its last job, but should still be closed)",
        reading="'Ends automatically after its last job (with some overhead)' is read as the"
        " 1 s interactive TTL deactivating the batch: a batch left open may still receive jobs,"
        " so it closes only on close() (draining) or at its max TTL.",
    ),
    Rule(
        "IBM-CANCEL",
        "ibm",
        "cancel() closes the session at once and cancels every queued job.",
        IBM_INTRO
        + ', section "End a session"; '
        + IBM_SDK
        + "session.py (cancel(): DELETE /sessions/{id}/close)",
        reading=IBM_RUN + " says cancelling 'fails' queued jobs in places and"
        " 'cancellation' in others; qsession marks them cancelled so the three ends stay"
        " distinguishable.",
    ),
    Rule(
        "IBM-COST-LIMIT",
        "ibm",
        "Reaching the instance cost limit ends the session as cancel() does: closed at once,"
        " queued jobs cancelled, running jobs run to completion; the host reports it as"
        " cancel().",
        IBM_MAX_EXECUTION + " ('The session or batch is immediately terminated when the cost"
        " limit is reached. Any jobs currently running ... will run to completion, but any"
        " pending jobs will be canceled')",
    ),
    Rule(
        "IBM-JOB-MAX-EXECUTION-TIME",
        "ibm",
        "A job that exceeds its max_execution_time is cancelled by the service; the host"
        " reports job_cancelled, the job ends cancelled, and the session carries on with its"
        " interactive TTL restarted from that end.",
        IBM_MAX_EXECUTION + " ('it is forcibly canceled and a RuntimeJobMaxTimeoutError"
        " exception is raised'); " + IBM_SDK + "runtime_job_v2.py (reason code 1305)",
    ),
    Rule(
        "IBM-UNUSED-30MIN",
        "ibm",
        "A session that no job was submitted to closes itself 30 minutes after opening, not"
        " before; once a job was submitted, time alone never closes a session that has not"
        " started.",
        IBM_RUN + " ('If you open a session but do not submit any jobs to it for 30 minutes,"
        " the session automatically closes')",
        reading="The timer counts from opening and is disarmed by the first submission, not"
        " the first start: the sentence speaks of submitting.",
    ),
    Rule(
        "IBM-SUBMIT-CLOSED",
        "ibm",
        "A session accepts a job exactly while accepting_jobs is true; otherwise submitting"
        " raises SessionClosedError ('The session is closed.').",
        IBM_RUN
        + " ('You cannot submit jobs to a closed session'); "
        + IBM_SDK
        + "session.py (_active_session raises IBMRuntimeError('The session is closed.'))",
    ),
    Rule(
        "IBM-ONE-BACKEND",
        "ibm",
        "A session opened on a backend refuses, with InvalidEventError, a job for another backend.",
        IBM_API
        + " (backend: the backend the session runs on); "
        + IBM_SDK
        + "base_primitive.py (get_mode_service_backend raises ValueError for a different"
        " backend inside a session)",
    ),
    Rule(
        "IBM-SIMULATOR-NO-SESSION",
        "ibm",
        "On a simulator or a local (fake) backend no server session exists: session_id,"
        " status() and details() are None, and qsession tracks it only when asked to enforce"
        " the rules locally.",
        IBM_API
        + " (session_id: 'None if the backend is a simulator'); "
        + IBM_INTRO
        + " ('sessions do not work on simulators because simulators do not have a queue'); "
        + IBM_SDK
        + "session.py (_create_session only for a non-simulator IBMBackend)",
    ),
    Rule(
        "IBM-STATUS",
        "ibm",
        "status is 'Pending' for open or inactive, 'In progress, accepting new jobs' or 'In"
        " progress, not accepting new jobs' for active, and 'Closed' for closed.",
        IBM_SDK + "session.py (status() computed from details()); " + IBM_API + ", status()",
    ),
    Rule(
        "IBM-DETAILS-KEYS",
        "ibm",
        "details() has exactly the keys of qiskit_ibm_runtime.Session.details(), each with the"
        " value the trace gives it (times of the first and last job start, last job end,"
        " activation, close, seconds active, state history).",
        IBM_SDK + "session.py (details()); " + IBM_API + ", details()",
        reading="active_timeout is not documented beyond its name and is reported as None;"
        " usage_time counts the seconds spent active (" + IBM_FAQ + ": a session's usage is"
        " its active wall-clock time); last_job_completed is the last job end an event"
        " reported, not the jobs the session itself failed or cancelled.",
    ),
    Rule(
        "IBM-EXCLUSIVE-WHEN-ACTIVE",
        "ibm",
        "A dedicated session holds its QPU exclusively exactly while active; a batch never does.",
        IBM_RUN
        + " ('Use sessions when you need dedicated and exclusive access to the QPU'); "
        + IBM_MODES
        + " (batch: other jobs may interleave)",
    ),
    Rule(
        "IBM-CLOSED-TERMINAL",
        "ibm",
        "A closed session stays closed, never accepts jobs again and holds no queued job;"
        " close() and cancel() on it change nothing.",
        IBM_RUN
        + " ('You cannot submit jobs to a closed session'); "
        + IBM_SDK
        + "session.py (__exit__ always calls close())",
        reading="close() and cancel() on a closed session are accepted as no-ops, because the"
        " SDK's context manager calls close() on exit whatever happened inside.",
    ),
    Rule(
        "AZ-POLICY",
        "azure",
        "A session has one target and a job_failure_policy of 'abort' (the service default) or"
        " 'continue', case-insensitive; priority is 'Standard' or 'High'.",
        AZURE_SDK
        + "_client/models/_enums.py (SessionJobFailurePolicy, Priority); "
        + AZURE_RECORDINGS
        + " (a session PUT without jobFailurePolicy answers 'Abort')",
    ),
    Rule(
        "AZ-STATUS-STRINGS",
        "azure",
        "A session's status is one of 'Waiting', 'Executing', 'Succeeded', 'Failed',"
        " 'Failure(s)', 'TimedOut', exactly as the service sends it, and the one the trace"
        " gives.",
        AZURE_SDK
        + "_client/models/_enums.py (SessionStatus); "
        + AZURE_SESSIONS
        + ', section "Monitoring sessions"',
        reading="The page's 'TimeOut' is 'TimedOut' on the wire (SessionStatus.TIMED_OUT).",
    ),
    Rule(
        "AZ-DETAILS",
        "azure",
        "details() has the SessionDetails fields with the values the trace gives: creation"
        " time, beginExecutionTime at the first job start, endExecutionTime exactly when the"
        " session is terminal, the requested priority.",
        AZURE_SDK
        + "_client/models/_models.py (ItemDetails, SessionDetails); "
        + AZURE_RECORDINGS
        + " (Succeeded, Failed and TimedOut carry an end time; Waiting, Executing and"
        " Failure(s) never do)",
        reading="The recordings' jobPriority ('Basic') is a service field the emulator adds;"
        " the core reports the priority the session asked for (None when it asked for none).",
    ),
    Rule(
        "AZ-WAITING-UNTIL-FIRST-JOB",
        "azure",
        "A session is 'Waiting' until its first job is submitted and 'Executing' from then on"
        " until it ends.",
        AZURE_RECORDINGS + " (Waiting only before the first job; Executing afterwards, also"
        " once every job has finished)",
        reading="The first submission, not the first start, turns it Executing: the recordings"
        " show Waiting only before the first job, and the job PUT is what the service sees. The"
        " page's 'Waiting: jobs within the session are being executed' does not match them.",
    ),
    Rule(
        "AZ-CLOSE-IDLE",
        "azure",
        "Closing a session with no job in flight ends it at once: 'Succeeded', or 'Failed' if"
        " any job failed.",
        AZURE_HOWTO + ", job failure policy ('Failure(s)' changes to 'Failed' once the session"
        " is closed); " + AZURE_RECORDINGS + " (close with nothing in flight answers Succeeded)",
    ),
    Rule(
        "AZ-CLOSE-DRAINS",
        "azure",
        "Closing a session with jobs in flight stops submissions but keeps its status until the"
        " last job ends; then it is 'Succeeded' or 'Failed'.",
        AZURE_RECORDINGS + " (close with a job in flight answers Executing; the session turns"
        " Succeeded when the last job ends)",
        reading="That a draining session refuses new submissions goes beyond the sources (no"
        " recording submits to one): closing is the user saying no more jobs will come, and"
        " the REST call is named :close.",
    ),
    Rule(
        "AZ-ABORT",
        "azure",
        "Under 'abort', a failed job ends the session 'Failed' at once and cancels the jobs"
        " still in flight; later submissions are refused.",
        AZURE_HOWTO + ", job failure policy ('If a job fails ... the session ends ... Any in"
        " progress jobs are canceled'); "
        + AZURE_RECORDINGS
        + " (test_session_job_failure_policies_echo_quantinuum.yaml)",
    ),
    Rule(
        "AZ-CONTINUE",
        "azure",
        "Under 'continue', a failed job turns the session 'Failure(s)', which keeps accepting"
        " jobs, stays 'Failure(s)' after later successes, and becomes 'Failed' when closed.",
        AZURE_HOWTO
        + ", job failure policy; "
        + AZURE_RECORDINGS
        + " (Failure(s) stays after later successful jobs; close answers Failed)",
    ),
    Rule(
        "AZ-TIMEOUT-10MIN",
        "azure",
        "A session with no job in flight and no new submission for 10 minutes ends 'TimedOut',"
        " even after failed jobs, and never earlier.",
        AZURE_SESSIONS + ', section "Monitoring sessions" (TimeOut after 10 minutes with no'
        " new job); "
        + AZURE_HOWTO
        + " (session timeouts); "
        + AZURE_RECORDINGS
        + " (never-used sessions turned TimedOut 602-686 s after creation)",
        reading="Goes beyond the sources: the 10 minutes count from the latest of opening, the"
        " last submission and the last job end, and pause while a job is in flight. The page"
        " counts from the last submission only, but warns it 'might take more than 10 minutes'"
        " to submit after the previous jobs complete, and timing out under a running job would"
        " orphan it with no documented fate. The service applies it with a lag of seconds;"
        " qsession fires it at exactly 600 s.",
    ),
    Rule(
        "AZ-ONE-TARGET",
        "azure",
        "A session has exactly one target; a job for another target is refused with"
        " InvalidEventError.",
        AZURE_SESSIONS + " ('A session is a logical grouping of one or more jobs submitted to a"
        " single target')",
    ),
    Rule(
        "AZ-NO-CANCEL",
        "azure",
        "Azure sessions have no cancel verb: cancel() is refused with an error that says to"
        " close instead.",
        AZURE_SDK + "job/session.py (Session has open, close, refresh and list_jobs; no cancel)",
    ),
    Rule(
        "AZ-SUBMIT-CLOSED",
        "azure",
        "A session accepts a job exactly while it is not ended and not closed; otherwise"
        " submitting raises SessionClosedError before any work is done.",
        AZURE_RECORDINGS + " (400 InvalidJobDefinition 'Session is already in a terminal state')",
        reading="Refusing before any work is done goes beyond the SDK, which uploads the input"
        " blob before the service refuses the job (" + AZURE_SDK + "job/base_job.py).",
    ),
    Rule(
        "AZ-TERMINAL",
        "azure",
        "'Succeeded', 'Failed' and 'TimedOut' are terminal: the session never leaves them and"
        " holds no job in flight.",
        AZURE_SDK + "job/session.py (is_in_terminal_state)",
    ),
    Rule(
        "AZ-QUANTINUUM-EXCLUSIVE",
        "azure",
        "A session on a Quantinuum target holds the hardware exclusively from its first job"
        " while jobs are queued within one minute of each other; after a lapse it queues"
        " normally for good.",
        AZURE_SESSIONS + ', section "Target behavior"; ' + AZURE_QUANTINUUM,
        reading="Goes beyond the sources: the minute counts like the 10-minute timeout, from"
        " the latest submission or job end while no job is in flight, rather than between"
        " submissions as the page says, so a job running longer than a minute does not cost"
        " the session its exclusivity. 'After that' is read as a permanent lapse.",
    ),
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}

#: azure-quantum-python's recorded service traces and tests before they moved to a mock.
_AZQ = "https://github.com/microsoft/azure-quantum-python/blob/a73842f7/azure-quantum/tests/unit/"
_PRICING = "https://learn.microsoft.com/azure/quantum/pricing"
#: qiskit-ibm-runtime's source, read where the service's behaviour is only visible to the client.
IBM_SDK = "qiskit-ibm-runtime 0.51.0 "
IBM_DOCS = "https://quantum.cloud.ibm.com/docs/guides/"

#: How the emulated services answer where the providers document little: not session-state
#: rules (no trace property checks them), each held by an end-to-end test with the real client
#: (Azure: ``tests/emulator/test_emulator_azure_surface.py``; IBM, around sessions: job usage,
#: limits, listing, dry runs and submission checks, ``tests/emulator/test_emulator_ibm_surface.py``
#: and ``tests/local/test_runtime_surface.py``).
SERVICE_READINGS: tuple[Rule, ...] = (
    Rule(
        "AZ-ECHO-TARGETS",
        "azure",
        "Microsoft's echo targets echo-ionq, echo-quantinuum, echo-rigetti and echo-output are"
        " listed under provider Microsoft.Test.FirstParty, accept their provider's formats"
        " (echo-quantinuum QIR only) and return the input blob as the job's output.",
        _AZQ
        + "recordings/test_configuration_quantinuum_backends.yaml (providerStatus); "
        + _AZQ
        + "test_job_results.py (echo-output returns its input); "
        + _AZQ
        + "test_session.py (echo-quantinuum 'only accepting QIR input formats')",
        reading="Only echo-output's answer is recorded; the other echo targets are read as"
        " echoing too, with honeywell.qir.v1 and microsoft.quantum-results.v2 as"
        " echo-quantinuum's output formats (the two its recordings request).",
    ),
    Rule(
        "AZ-OUTPUT-FORMAT",
        "azure",
        "A job whose outputDataFormat its target cannot produce from its input format starts,"
        " then fails with CannotTranslateOutputData (an input format the target does not take:"
        " InvalidInputDataFormat); under Abort that fails the session.",
        _AZQ + "recordings/test_session_job_failure_policies_echo_quantinuum.yaml",
        reading="Checked when the job runs, not at submission: the recorded failed job has a"
        " beginExecutionTime. A missing outputDataFormat takes the target's default.",
    ),
    Rule(
        "AZ-PROVIDER-ID",
        "azure",
        "Sessions and jobs report providerId lower case (microsoft.test.firstparty, ionq)"
        " whatever case was sent; providerStatus lists each provider in its own case.",
        _AZQ + "recordings/test_session_job_qsharp_callable_echo_quantinuum.yaml",
        reading="A providerId that is not the target's provider (compared without case) is"
        " refused with 400 naming the right one; no recording shows what the service does.",
    ),
    Rule(
        "AZ-OUTPUT-BLOB",
        "azure",
        "Each job's output is written where its outputDataUri says; without one, to"
        " rawOutputData in its own job-{id} container and to {id}/rawOutputData in a container"
        " it shares with other jobs.",
        "azure-quantum 3.13 _client/models/_models.py JobDetails.output_data_uri ('read',"
        " 'create'); " + _AZQ + "recordings (outputDataUri .../job-{id}/rawOutputData)",
        reading="The service's name in a shared container is not recorded; a per-job prefix"
        " keeps two jobs from reading each other's results.",
    ),
    Rule(
        "AZ-IONQ-SIMULATOR-EXACT",
        "azure",
        "ionq.simulator answers an IonQ JSON job with exact probabilities; IonQ QPUs sample"
        " the job's shots.",
        "https://learn.microsoft.com/azure/quantum/provider-ionq (idealized simulator)",
        reading="QIR jobs on ionq.simulator are sampled: their output format carries every shot.",
    ),
    Rule(
        "AZ-COST-IONQ",
        "azure",
        "An IonQ job's costEstimate is AQT = m + 0.000220 N1q C + 0.000975 N2q C (USD), m ="
        " 12.4166 without and 97.50 with error mitigation, a gate on N >= 3 qubits billed as"
        " 6 (N - 2) two-qubit gates; ionq.simulator reports zero gate-shots at zero price.",
        _PRICING + "#ionq; " + _AZQ + "recordings/test_job_submit_ionq_cost_estimate.yaml",
        reading="m is added, as the formula writes it, and shown as its own usage event;"
        " error mitigation counts as on only when inputParams 'error-mitigation' has"
        " debias true.",
    ),
    Rule(
        "AZ-COST-HQC",
        "azure",
        "A Quantinuum job's costEstimate is HQC = 5 + C (N1q + 10 N2q + 5 Nm) / 5000; syntax"
        " checkers cost nothing.",
        _PRICING + "#quantinuum; https://learn.microsoft.com/azure/quantum/provider-quantinuum",
        reading="Quantinuum bills HQCs against a subscription, so the estimate's currencyCode"
        " is 'HQC' and its unit price 0; echo and Rigetti targets report no estimate.",
    ),
    Rule(
        "AZ-FINISHING",
        "azure",
        "A running job reports Executing while its shots run and Finishing for the rest of"
        " its run; clients treat Finishing as running, not completed.",
        "azure-quantum 3.13 _client/models/_enums.py JobStatus.FINISHING;"
        " qiskit/job.py AzureJobStatusMap",
        reading="When the service sends Finishing is undocumented; qsession uses the duration"
        " model's fixed overhead, placed at the end of the run.",
    ),
    Rule(
        "AZ-USAGE",
        "azure",
        "A job that ran reports usage {'shots': its shots, 'seconds': its run time}; a job"
        " that never ran, and every session, reports none.",
        "azure-quantum 3.13 _client/models/_models.py Usage ('provider-defined metric names"
        ' (e.g. "standardMinutes", "shots")\')',
        reading="The providers' metric names are not published; 'shots' is the SDK's example"
        " and 'seconds' the emulator's QPU time.",
    ),
    Rule(
        "AZ-CANCEL-200",
        "azure",
        "POST /jobs/{id}:cancel answers 200 with the job; a job that has ended answers 409.",
        "azure-quantum 3.13 _client/operations/_operations.py ServicesJobsOperations.cancel"
        " (accepts 200); API 2025-12-01-preview",
        reading="The service historically answered 204, which Workspace.cancel_job swallows;"
        " qsession follows the installed SDK and the newer API (200).",
    ),
    Rule(
        "AZ-TOP-LEVEL-ITEMS",
        "azure",
        "GET topLevelItems lists the sessions and the jobs outside any session, oldest first"
        " unless orderby says, with the client's OData filter, skip and top, paged by"
        " nextLink.",
        "azure-quantum 3.13 workspace.py list_top_level_items, _create_filter, _create_orderby",
    ),
    Rule(
        "AZ-PATCH-JOB",
        "azure",
        "PATCH /jobs/{id} changes a job's name, priority (Standard or High) and tags in any"
        " state and answers the new values; anything else is a 400 that changes nothing.",
        "azure-quantum 3.13 workspace.py update_job; _client/models/_models.py JobUpdateOptions",
        reading="Which states allow a change is undocumented; every state does.",
    ),
    Rule(
        "AZ-SYNTAX-CHECKER",
        "azure",
        "quantinuum.sim.h2-1sc runs the program on a noiseless simulator.",
        "https://learn.microsoft.com/azure/quantum/provider-quantinuum (syntax checker)",
        reading="The service's syntax checker returns all zeros; qsession simulates instead so"
        " that local results mean something. A known difference.",
    ),
    Rule(
        "IBM-USAGE-JOB",
        "ibm",
        "A job's usage is its QPU charge time: the time it holds the QPU, fixed per-job"
        " overhead included; metrics report it with status 'pending' until the job ends.",
        IBM_SDK + "runtime_job_v2.py (RuntimeJobV2.usage reads metrics['usage']"
        "['qpu_charge_time_seconds'], 0 while 'pending'); " + IBM_DOCS + "estimate-job-run-time",
        reading="The status after the end is 'completed' (the client only tests for"
        " 'pending'); a job cancelled or failed while running is charged the time it ran, a job"
        " that never started nothing.",
    ),
    Rule(
        "IBM-USAGE-SESSION-BATCH",
        "ibm",
        "A dedicated session's usage is its active wall time; a batch's is the sum of its jobs'"
        " QPU charge times.",
        IBM_DOCS + "estimate-job-run-time ('Session usage is the time from when the first job"
        " starts until the session goes inactive...', 'Batch usage is the sum of quantum time of"
        " all jobs in the batch'); " + IBM_DOCS + "execution-modes-faq",
        reading="Deactivated time is excluded and the idle interactive TTL after a job is"
        " included, as the core's usage_time counts it.",
    ),
    Rule(
        "IBM-MAX-EXECUTION-TIME",
        "ibm",
        "A job whose QPU time would pass its max_execution_time is stopped at the limit and"
        " ends Cancelled with reason code 1305, which the client raises as"
        " RuntimeJobMaxTimeoutError.",
        IBM_DOCS + "max-execution-time; " + IBM_SDK + "runtime_job_v2.py (reason_code 1305)",
        reading="It is charged exactly the limit; in a session it is a cancelled job end, so"
        " the interactive TTL restarts from it and the session goes on.",
    ),
    Rule(
        "IBM-INSTANCE-USAGE",
        "ibm",
        "An instance's consumed usage is the charge time of its jobs that ended in the last 28"
        " days; an Open Plan instance has a 600-second limit.",
        IBM_SDK
        + "qiskit_runtime_service.py (usage, _check_instance_usage); "
        + IBM_DOCS
        + "manage-cost",
        reading="The window is rolling; dry-run jobs on mock backends consume nothing; a reached"
        " limit is reported (the client warns at submission) but jobs are not held back.",
    ),
    Rule(
        "IBM-DRY-RUN-MOCK",
        "ibm",
        "run(..., dry_run=True) sends a job to mock_x, the mock twin of backend x: listed only"
        " with include_mocks and class 'mock', checked and timed like x, answering random data"
        " of the result's exact shapes and dtypes.",
        IBM_SDK + "qiskit_runtime_service.py (_run rewrites the backend to mock_*),"
        " executor/executor.py (Executor.run: 'randomized mock data')",
        reading="A session or batch on mock_x follows the session rules like any other; a dry"
        " run inside a session on x goes to another backend and is refused with a 400 that"
        " says to dry-run in job mode or open the session on mock_x.",
    ),
    Rule(
        "IBM-JOB-LISTING",
        "ibm",
        "GET /jobs pages with limit and offset, keeps the jobs carrying every tag asked for,"
        " filters by session, backend, program, pending and inclusive creation bounds, sorts"
        " newest first unless sort=ASC, and counts every match.",
        IBM_SDK + "api/rest/runtime.py (jobs_get: 'Matched jobs are associated with all tags',"
        " 'greater than or equal'), qiskit_runtime_service.py (jobs pages until count)",
        reading="Jobs on mock backends are listed only with include_mocks or a backend filter"
        " naming one.",
    ),
    Rule(
        "IBM-ISA-AT-SUBMISSION",
        "ibm",
        "A job whose circuit is not an ISA circuit of its backend's target is refused at"
        " submission, with the instruction and qubits that do not match.",
        IBM_DOCS + "transpile; " + IBM_SDK + "utils/utils.py (is_isa_circuit)",
        reading="Refused with a 400 before any job exists (not a failed job), by the client's"
        " own check; the local IBM shape raises the same text as IBMInputValueError.",
    ),
)
