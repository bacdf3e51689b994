/*
 * DHT11 / DHT22 (AM2302) start signal and reply capture on the ESP32 family, with ESP-IDF's RMT
 * receive driver (esp_driver_rmt, driver/rmt_rx.h) and the GPIO driver (esp_driver_gpio).
 *
 * Why the RMT receiver and not a timed GPIO read (ESPHome's dht.cpp polls the pin with interrupts
 * masked for the whole ~4.5 ms reply):
 * - The RMT timestamps every edge in hardware at 1 us, whatever the CPU is doing: WiFi and lwIP
 *   interrupts, the other core and flash cache misses cannot shorten or stretch a pulse, and no
 *   interrupt is held off for milliseconds (which the WiFi stack does not like).
 * - The XS task is not blocked while the sensor answers: start() returns as soon as the line is
 *   released and JavaScript polls read() from a timer.
 * - It coexists with Moddable's NeoPixel driver, which uses an RMT transmit channel: the driver
 *   allocates the channel (on the ESP32-S3 receive channels are 4-7 and transmit channels 0-3) and
 *   both use RMT_CLK_SRC_DEFAULT, as channels of one group must; the group clock (APB, 80 MHz)
 *   divides to both 10 MHz (NeoPixel) and 1 MHz (here). A failure is a JavaScript exception that
 *   names the esp_err_t, never a boot abort (no ESP_ERROR_CHECK).
 * The cost is one of the RX channels and the busy-wait of the start pulse (1.1 ms for a DHT22,
 * 20 ms for a DHT11), which the sensor needs anyway.
 *
 * How a read goes:
 * - The constructor takes an RX channel on the pin: 1 MHz resolution, so durations are
 *   microseconds, and one block of RMT memory (SOC_RMT_MEM_WORDS_PER_CHANNEL symbols, the least
 *   the driver accepts; 48 on the ESP32-S3, ping-pong copies longer frames out). rmt_new_rx_channel
 *   selects the GPIO function, enables the pad's input and routes it to the channel through the
 *   GPIO matrix; it sets neither pull nor output, so the pin is then made an open-drain output with
 *   the pull-up, released (high). The RMT keeps reading the pad while the pin drives it.
 * - start(us) drives the line low, waits `us` microseconds, arms the receiver while the line is
 *   still low and releases it. The receiver starts at the first edge (the release), so it records
 *   the idle high before the sensor answers, the 80/80 us preamble, the 40 bits and the final low.
 *   The frame ends when the line has kept one level for 200 us (signal_range_max_ns), longer than
 *   any pulse of a reply. Pulses shorter than 1.25 us are glitches (signal_range_min_ns; the filter
 *   counts the group clock, at most 255 ticks: 3.1 us at 80 MHz).
 * - The receive-done callback runs in the RMT interrupt: it stores the symbol count and sets a
 *   flag in this object's record (internal RAM, as the driver requires when its ISR is cache safe).
 *   read(buffer) returns -1 until then, afterwards copies each symbol as two 16-bit little-endian
 *   entries (level << 15 | duration, the hardware's layout) and returns how many it wrote.
 *   Decoding stays in TypeScript (dht/receiver, dht/decoder).
 * - abort() gives up a receive that never ended (a line stuck low has no edge): rmt_disable stops
 *   the receiver and rmt_enable makes the channel ready for the next rmt_receive.
 * - close() and the destructor disable and delete the channel and reset the pin. No static
 *   mutable state: everything lives in the host object's data.
 */

#include "xsPlatform.h"
#include "xsmc.h"
#include "mc.xs.h"			// xsID_ values

#include "driver/gpio.h"
#include "driver/rmt_rx.h"
#include "esp_attr.h"
#include "esp_err.h"
#include "esp_heap_caps.h"
#include "esp_rom_sys.h"
#include "soc/soc_caps.h"

#define kDhtResolutionHz		(1000000)
#define kDhtMemBlockSymbols		(SOC_RMT_MEM_WORDS_PER_CHANNEL)
/* A reply is about 43 symbols; room for a few glitches. */
#define kDhtSymbols				(64)
#define kDhtFilterNs			(1250)
#define kDhtIdleNs				(200 * 1000)
/* DHT22 needs at least 1 ms, DHT11 at least 18 ms; longer is refused (the task busy-waits). */
#define kDhtStartLowMinUs		(250)
#define kDhtStartLowMaxUs		(25000)

typedef struct {
	rmt_channel_handle_t	channel;
	int						pin;
	uint8_t					pinConfigured;
	uint8_t					enabled;
	uint8_t					armed;
	/* Written by the receive-done callback in interrupt context. */
	volatile uint32_t		received;
	volatile uint32_t		done;
	rmt_symbol_word_t		symbols[kDhtSymbols];
} DhtCaptureRecord, *DhtCapture;

void xs_dhtcapture_destructor(void *data);

/* The name of an esp_err_t the RMT and GPIO drivers return; NULL for another. */
static const char *dhtErrorName(esp_err_t err)
{
	switch (err) {
		case ESP_FAIL: return "ESP_FAIL";
		case ESP_ERR_NO_MEM: return "ESP_ERR_NO_MEM";
		case ESP_ERR_INVALID_ARG: return "ESP_ERR_INVALID_ARG";
		case ESP_ERR_INVALID_STATE: return "ESP_ERR_INVALID_STATE";
		case ESP_ERR_NOT_FOUND: return "ESP_ERR_NOT_FOUND";
		case ESP_ERR_NOT_SUPPORTED: return "ESP_ERR_NOT_SUPPORTED";
		case ESP_ERR_TIMEOUT: return "ESP_ERR_TIMEOUT";
		default: return NULL;
	}
}

/*
 * Throws "DHT: <what> (<esp_err_t name>)". Moddable's sdkconfig turns CONFIG_ESP_ERR_TO_NAME_LOOKUP
 * off, so esp_err_to_name only knows ESP_OK and says "UNKNOWN ERROR" for the rest: the codes these
 * drivers return are named here, esp_err_to_name and the number cover any other.
 */
static void dhtThrow(xsMachine *the, const char *what, esp_err_t err)
{
	const char *name = dhtErrorName(err);
	if (name)
		xsUnknownError("DHT: %s (%s)", what, name);
	xsUnknownError("DHT: %s (%s 0x%x)", what, esp_err_to_name(err), (unsigned int)err);
}

static bool IRAM_ATTR dhtReceived(rmt_channel_handle_t channel, const rmt_rx_done_event_data_t *event, void *context)
{
	DhtCapture capture = context;
	if (event->flags.is_last) {
		capture->received = (uint32_t)event->num_symbols;
		__atomic_store_n(&capture->done, 1, __ATOMIC_RELEASE);
	}
	return false;		// no task woken
}

static void dhtRelease(DhtCapture capture)
{
	if (capture->channel) {
		if (capture->enabled)
			rmt_disable(capture->channel);
		rmt_del_channel(capture->channel);
		capture->channel = NULL;
	}
	if (capture->pinConfigured)
		gpio_reset_pin((gpio_num_t)capture->pin);
	heap_caps_free(capture);
}

/* Frees what the constructor took so far and throws. */
static void dhtFail(xsMachine *the, DhtCapture capture, const char *what, esp_err_t err)
{
	xsmcSetHostData(xsThis, NULL);
	dhtRelease(capture);
	dhtThrow(the, what, err);
}

static DhtCapture dhtGet(xsMachine *the)
{
	DhtCapture capture = xsmcGetHostDataValidate(xsThis, (void *)xs_dhtcapture_destructor);
	if (!capture)
		xsUnknownError("DHT: closed");
	return capture;
}

void xs_dhtcapture_destructor(void *data)
{
	if (data)
		dhtRelease((DhtCapture)data);
}

void xs_dhtcapture(xsMachine *the)
{
	DhtCapture capture;
	esp_err_t err;
	int pin;

	xsmcVars(1);
	if ((xsmcArgc < 1) || !xsmcHas(xsArg(0), xsID_pin))
		xsTypeError("DHT: options.pin required");
	xsmcGet(xsVar(0), xsArg(0), xsID_pin);
	pin = xsmcToInteger(xsVar(0));
	if (!GPIO_IS_VALID_OUTPUT_GPIO(pin))
		xsRangeError("DHT: GPIO %d cannot drive the data line", pin);

	capture = heap_caps_calloc(1, sizeof(DhtCaptureRecord), MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
	if (!capture)
		xsUnknownError("DHT: no memory");
	capture->pin = pin;
	xsmcSetHostData(xsThis, capture);

	rmt_rx_channel_config_t config = {
		.gpio_num = (gpio_num_t)pin,
		.clk_src = RMT_CLK_SRC_DEFAULT,
		.resolution_hz = kDhtResolutionHz,
		.mem_block_symbols = kDhtMemBlockSymbols,
		.intr_priority = 0,
		.flags = {
			.invert_in = 0,
			.with_dma = 0,
			.allow_pd = 0,
		},
	};
	err = rmt_new_rx_channel(&config, &capture->channel);
	if (ESP_ERR_NOT_FOUND == err)
		dhtFail(the, capture, "no free RMT RX channel", err);
	if (ESP_OK != err)
		dhtFail(the, capture, "cannot create the RMT RX channel", err);

	rmt_rx_event_callbacks_t callbacks = {
		.on_recv_done = dhtReceived,
	};
	err = rmt_rx_register_event_callbacks(capture->channel, &callbacks, capture);
	if (ESP_OK != err)
		dhtFail(the, capture, "cannot register the RMT RX callback", err);

	// Released before the output is enabled, so the line does not glitch low.
	gpio_set_level((gpio_num_t)pin, 1);
	gpio_config_t io = {
		.pin_bit_mask = 1ULL << pin,
		.mode = GPIO_MODE_INPUT_OUTPUT_OD,
		.pull_up_en = GPIO_PULLUP_ENABLE,
		.pull_down_en = GPIO_PULLDOWN_DISABLE,
		.intr_type = GPIO_INTR_DISABLE,
	};
	err = gpio_config(&io);
	capture->pinConfigured = 1;
	if (ESP_OK != err)
		dhtFail(the, capture, "cannot configure the data pin", err);

	err = rmt_enable(capture->channel);
	if (ESP_OK != err)
		dhtFail(the, capture, "cannot enable the RMT RX channel", err);
	capture->enabled = 1;
}

void xs_dhtcapture_close(xsMachine *the)
{
	DhtCapture capture = xsmcGetHostDataValidate(xsThis, (void *)xs_dhtcapture_destructor);
	if (!capture)
		return;
	xsmcSetHostData(xsThis, NULL);
	dhtRelease(capture);
}

/* Stops a receive that has not ended; the channel is ready for the next one. */
static esp_err_t dhtAbort(DhtCapture capture)
{
	esp_err_t err;
	capture->armed = 0;
	if (!capture->enabled)
		return ESP_OK;
	err = rmt_disable(capture->channel);
	capture->enabled = 0;
	if (ESP_OK != err)
		return err;
	err = rmt_enable(capture->channel);
	if (ESP_OK == err)
		capture->enabled = 1;
	return err;
}

void xs_dhtcapture_start(xsMachine *the)
{
	DhtCapture capture = dhtGet(the);
	gpio_num_t pin = (gpio_num_t)capture->pin;
	int startLowUs;
	esp_err_t err;
	const rmt_receive_config_t receive = {
		.signal_range_min_ns = kDhtFilterNs,
		.signal_range_max_ns = kDhtIdleNs,
		.flags = {
			.en_partial_rx = 0,
		},
	};

	if (xsmcArgc < 1)
		xsTypeError("DHT: start pulse required");
	startLowUs = xsmcToInteger(xsArg(0));
	if ((startLowUs < kDhtStartLowMinUs) || (startLowUs > kDhtStartLowMaxUs))
		xsRangeError("DHT: start pulse %d us outside %d..%d us", startLowUs, kDhtStartLowMinUs, kDhtStartLowMaxUs);

	if (capture->armed && !__atomic_load_n(&capture->done, __ATOMIC_ACQUIRE)) {
		err = dhtAbort(capture);
		if (ESP_OK != err)
			dhtThrow(the, "cannot stop the previous receive", err);
	}
	if (!capture->enabled) {
		err = rmt_enable(capture->channel);
		if (ESP_OK != err)
			dhtThrow(the, "cannot enable the RMT RX channel", err);
		capture->enabled = 1;
	}
	capture->armed = 0;
	capture->received = 0;
	__atomic_store_n(&capture->done, 0, __ATOMIC_RELEASE);

	gpio_set_level(pin, 0);
	esp_rom_delay_us((uint32_t)startLowUs);
	err = rmt_receive(capture->channel, capture->symbols, sizeof(capture->symbols), &receive);
	gpio_set_level(pin, 1);
	if (ESP_OK != err)
		dhtThrow(the, "cannot start the RMT receive", err);
	capture->armed = 1;
}

void xs_dhtcapture_read(xsMachine *the)
{
	DhtCapture capture = dhtGet(the);
	uint8_t *entries;
	void *data;
	xsUnsignedValue size;
	uint32_t count, i;

	if (xsmcArgc < 1)
		xsTypeError("DHT: buffer required");
	if (!capture->armed)
		xsUnknownError("DHT: no capture started");
	if (!__atomic_load_n(&capture->done, __ATOMIC_ACQUIRE)) {
		xsmcSetInteger(xsResult, -1);
		return;
	}
	xsmcGetBufferWritable(xsArg(0), &data, &size);
	entries = data;
	count = capture->received;
	if (count > kDhtSymbols)
		count = kDhtSymbols;
	if (count > (size / 4))
		count = size / 4;
	// Byte by byte, little-endian: the buffer may not be 16-bit aligned.
	for (i = 0; i < count; i++) {
		const rmt_symbol_word_t *symbol = &capture->symbols[i];
		uint16_t first = (uint16_t)((symbol->level0 << 15) | symbol->duration0);
		uint16_t second = (uint16_t)((symbol->level1 << 15) | symbol->duration1);
		entries[4 * i] = (uint8_t)first;
		entries[4 * i + 1] = (uint8_t)(first >> 8);
		entries[4 * i + 2] = (uint8_t)second;
		entries[4 * i + 3] = (uint8_t)(second >> 8);
	}
	capture->armed = 0;
	xsmcSetInteger(xsResult, (xsIntegerValue)(2 * count));
}

void xs_dhtcapture_abort(xsMachine *the)
{
	DhtCapture capture = dhtGet(the);
	esp_err_t err;

	if (!capture->armed)
		return;
	if (__atomic_load_n(&capture->done, __ATOMIC_ACQUIRE)) {
		capture->armed = 0;
		return;
	}
	err = dhtAbort(capture);
	if (ESP_OK != err)
		dhtThrow(the, "cannot stop the RMT receive", err);
}
