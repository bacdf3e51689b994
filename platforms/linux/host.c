/*
 * The process around the firmware on Moddable's Linux console target (mcconfig -p x-cli-lin).
 *
 * The platform links XS, the preloaded archive (mc.xs.c) and the modules' objects, but brings no
 * main() and no fxAbort(): this file supplies both, runs the "main" module and then a GLib main
 * loop (Moddable's Linux timer, socket and promise jobs are GLib sources), and gives the Linux
 * board a few host functions (platforms/linux/host.js):
 *
 *   exit(code)          leaves the loop; main() returns code (the runner treats 75 as "reboot")
 *   getenv(name)        a variable of the environment, or undefined
 *   onSignal(callback)  SIGINT/SIGTERM call callback once (a clean stop); a second signal exits 130
 *   memory()            XS heap figures: slots (count), chunks (bytes), stack (slots)
 *   collect()           a garbage collection, so that memory() then reports what is live
 *
 * The machine is created with the manifest's "creation" values (no growth when "incremental" is
 * 0), so a run that needs more XS memory than the board has aborts here as it would on the board:
 * fxAbort prints why and the process exits with 70 + the XS status (71: memory full, 72: stack
 * overflow, 75: unhandled exception). The device check runs the firmware in a smaller machine to
 * prove headroom: SENSOR_XS_SLOTS, SENSOR_XS_CHUNKS (bytes) and SENSOR_XS_STACK (slots) replace
 * the manifest's heap, chunk and stack sizes (growth stays off).
 */

#include "xsAll.h"
#include "mc.xs.h"
#if MODINSTRUMENTATION
#include "modInstrumentation.h"
#endif

#include <glib.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static GMainLoop *gLoop = NULL;
static xsMachine *gMachine = NULL;
static int gExitCode = 0;
static int gSignals = 0;
static xsSlot gSignalCallback;
static int gHaveSignalCallback = 0;

static void reportMemory(txMachine *the, FILE *out)
{
	fprintf(out, "# xs memory: slots peak %ld of %ld, chunks peak %ld of %ld bytes, ",
		(long)the->peakHeapCount, (long)the->maximumHeapCount,
		(long)the->peakChunksSize, (long)the->maximumChunksSize);
#ifdef mxInstrument
	fprintf(out, "stack peak %ld of %ld slots\n",
		(long)(the->stackTop - the->stackPeak), (long)(the->stackTop - the->stackBottom));
#else
	fprintf(out, "stack peak unknown (instrumented builds only)\n");
#endif
}

void fxAbort(txMachine *the, int status)
{
	extern txString fxAbortString(int status);
	fprintf(stderr, "# xs abort: %s (status %d)\n", fxAbortString(status), status);
	if ((xsUnhandledExceptionExit == status) || (xsUnhandledRejectionExit == status)) {
		xsTry {
			fprintf(stderr, "# exception: %s\n", xsToString(xsException));
		}
		xsCatch {
		}
	}
	reportMemory(the, stderr);
	fflush(stdout);
	fflush(stderr);
	exit(70 + status);
}

void xs_linux_exit(xsMachine *the)
{
	gExitCode = (xsToInteger(xsArgc) > 0) ? xsToInteger(xsArg(0)) : 0;
	if (gLoop)
		g_main_loop_quit(gLoop);
	else
		exit(gExitCode);
}

void xs_linux_getenv(xsMachine *the)
{
	const char *value = getenv(xsToString(xsArg(0)));
	if (value)
		xsResult = xsString(value);
}

void xs_linux_on_signal(xsMachine *the)
{
	gSignalCallback = xsArg(0);
	if (!gHaveSignalCallback) {
		xsRemember(gSignalCallback);
		gHaveSignalCallback = 1;
	}
}

static void setNumber(xsMachine *the, const char *name, double value)
{
	xsSet(xsResult, xsID((char *)name), xsNumber(value));
}

void xs_linux_memory(xsMachine *the)
{
	xsResult = xsNewObject();
	setNumber(the, "slots", the->currentHeapCount);
	setNumber(the, "slotsPeak", the->peakHeapCount);
	setNumber(the, "slotsMax", the->maximumHeapCount);
	setNumber(the, "chunks", the->currentChunksSize);
	setNumber(the, "chunksPeak", the->peakChunksSize);
	setNumber(the, "chunksMax", the->maximumChunksSize);
	setNumber(the, "stackMax", the->stackTop - the->stackBottom);
#ifdef mxInstrument
	setNumber(the, "stackPeak", the->stackTop - the->stackPeak);
#endif
	setNumber(the, "keys", the->keyIndex - the->keyOffset - the->keyholeCount);
}

void xs_linux_collect(xsMachine *the)
{
	xsCollectGarbage();
}

static gboolean onSignal(gpointer data)
{
	if (gSignals++ || !gHaveSignalCallback) {
		fprintf(stderr, "# stopped by signal\n");
		exit(130);
	}
	xsBeginHost(gMachine);
	{
		xsTry {
			xsCallFunction0(gSignalCallback, xsGlobal);
		}
		xsCatch {
			fprintf(stderr, "# signal handler: %s\n", xsToString(xsException));
			g_main_loop_quit(gLoop);
		}
	}
	xsEndHost(gMachine);
	return G_SOURCE_CONTINUE;
}

#if MODINSTRUMENTATION
/* The figures the board hosts install (xs/platforms/esp/xsHost.c), so "instrumentation" reports them. */
static int32_t instSlotHeapSize(void *it) { txMachine *the = it; return the->currentHeapCount * sizeof(txSlot); }
static int32_t instChunkHeapSize(void *it) { txMachine *the = it; return the->currentChunksSize; }
static int32_t instKeysUsed(void *it) { txMachine *the = it; return the->keyIndex - the->keyOffset - the->keyholeCount; }
static int32_t instGarbageCollectionCount(void *it) { txMachine *the = it; return the->garbageCollectionCount; }
static int32_t instModulesLoaded(void *it) { txMachine *the = it; return the->loadedModulesCount; }
static int32_t instStackRemain(void *it)
{
	txMachine *the = it;
	if (the->stackPeak > the->stack)
		the->stackPeak = the->stack;
	return (the->stackTop - the->stackPeak) * sizeof(txSlot);
}

static void setupInstrumentation(void)
{
	modInstrumentationInit();
	modInstrumentationSetCallback(SlotHeapSize, instSlotHeapSize);
	modInstrumentationSetCallback(ChunkHeapSize, instChunkHeapSize);
	modInstrumentationSetCallback(KeysUsed, instKeysUsed);
	modInstrumentationSetCallback(GarbageCollectionCount, instGarbageCollectionCount);
	modInstrumentationSetCallback(ModulesLoaded, instModulesLoaded);
	modInstrumentationSetCallback(StackRemain, instStackRemain);
}
#endif

static void override(const char *name, xsIntegerValue *value)
{
	const char *text = getenv(name);
	if (text && *text) {
		long n = strtol(text, NULL, 10);
		if (n > 0) {
			*value = (xsIntegerValue)n;
			fprintf(stderr, "# %s=%ld\n", name, n);
		}
	}
}

int main(int argc, char *argv[])
{
	int error = 0;
	txPreparation *preparation = xsPreparation();
	txCreation creation = preparation->creation;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The SDK's Linux sockets send() without MSG_NOSIGNAL: writing to a connection the broker has
	   just closed would kill the process with SIGPIPE. Ignored, the write fails with EPIPE and the
	   socket reports an error, as lwIP does on the board. */
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)time(NULL) ^ ((unsigned)getpid() << 16));	/* seeds the crypt module's rng */
#if MODINSTRUMENTATION
	setupInstrumentation();
#endif

	override("SENSOR_XS_SLOTS", &creation.initialHeapCount);
	override("SENSOR_XS_CHUNKS", &creation.initialChunkSize);
	override("SENSOR_XS_STACK", &creation.stackCount);
	gMachine = xsPrepareMachine(&creation, preparation, "sensor", NULL, NULL);
	if (!gMachine) {
		fprintf(stderr, "# cannot create the XS machine\n");
		return 2;
	}
	gLoop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGINT, onSignal, NULL);
	g_unix_signal_add(SIGTERM, onSignal, NULL);

	xsBeginHost(gMachine);
	{
		xsVars(1);
		xsTry {
			xsVar(0) = xsAwaitImport("main", XS_IMPORT_DEFAULT);
		}
		xsCatch {
			fprintf(stderr, "### %s\n", xsToString(xsException));
			error = 1;
		}
	}
	xsEndHost(gMachine);

	if (!error) {
		g_main_loop_run(gLoop);
		error = gExitCode;
	}
	reportMemory(gMachine, stdout);
	xsDeleteMachine(gMachine);
	g_main_loop_unref(gLoop);
	return error;
}
