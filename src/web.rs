//! The browser API (`web` feature): a thin wasm-bindgen layer over [`Detector`].
//!
//! ```js
//! const detector = await FaceDetector.create({ scoreThreshold: 0.6 });
//! const faces = await detector.detect(video); // [{ x, y, width, height, score }, ...]
//! ```
//!
//! Built twice: with the `webgpu` feature the network runs on WebGPU when the browser gives an
//! adapter and on the CPU (compiled to wasm) otherwise; with `web` alone it is the smaller
//! CPU-only module.
//! Results are read back asynchronously, as WebGPU requires; suppression runs in plain Rust on
//! the few kilobytes read back.
//!
//! A panic aborts the WebAssembly instance (wasm32 has no unwinding): the panic hook hands the
//! message to the listener given to [`on_panic`], so the package's JavaScript wrapper
//! (`pkg/index.js`) can reject the calls in flight with an `Error` instead of leaving them
//! pending.

use std::cell::RefCell;
use std::sync::Once;

use burn::prelude::*;
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    HtmlCanvasElement, HtmlImageElement, HtmlVideoElement, ImageBitmap, ImageData, OffscreenCanvas,
    OffscreenCanvasRenderingContext2d,
};

use crate::boxes::NmsConfig;
use crate::default_model::DEFAULT_WEIGHTS;
use crate::detector::{Detector, Face};
use crate::model::parse_size;
use crate::preprocess::{ImageView, PixelFormat};

thread_local! {
    // burn's wgpu runtime is initialised once per page; later detectors share it.
    #[cfg(feature = "webgpu")]
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
    static PANIC_LISTENER: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Call `listener(message)` when ssdface panics, just before the instance aborts (after which
/// nothing in it can be used).
#[wasm_bindgen(js_name = onPanic)]
pub fn on_panic(listener: Function) {
    install_panic_hook();
    PANIC_LISTENER.with(|slot| *slot.borrow_mut() = Some(listener));
}

/// Panic, now or after an `await`: lets tests check that a panic in either part of a call
/// reaches JavaScript as an `Error`.
#[doc(hidden)]
#[wasm_bindgen(js_name = panicForTesting)]
pub async fn panic_for_testing(after_await: bool) {
    if after_await {
        let resolved = js_sys::Promise::resolve(&JsValue::UNDEFINED);
        let _ = wasm_bindgen_futures::JsFuture::from(resolved).await;
    }
    panic!("panicForTesting was called");
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            console_error_panic_hook::hook(info);
            // `try_with`/`try_borrow`: a panic while the slot is in use must not panic again.
            let listener = PANIC_LISTENER
                .try_with(|slot| slot.try_borrow().ok().and_then(|l| l.clone()))
                .ok()
                .flatten();
            if let Some(listener) = listener {
                let message = JsValue::from_str(&info.to_string());
                let _ = listener.call1(&JsValue::NULL, &message);
            }
        }));
    });
}

/// A face detector running in the browser.
#[wasm_bindgen]
pub struct FaceDetector {
    detector: Detector,
    backend: &'static str,
    pixels: PixelReader,
}

/// The options `create` knows: any other name is a mistake (a misspelling, another library's
/// option) that would otherwise be ignored silently.
const OPTIONS: [&str; 7] = [
    "backend",
    "weights",
    "scoreThreshold",
    "iouThreshold",
    "topK",
    "maxFaces",
    "inputSize",
];

/// Refuses options that are not an object, or that name an option `create` does not know.
fn check_option_names(options: &JsValue) -> Result<(), JsError> {
    if options.is_undefined() {
        return Ok(());
    }
    if !options.is_object() || options.is_null() || Array::is_array(options) {
        return Err(JsError::new("options must be an object"));
    }
    let names = Object::keys(options.unchecked_ref::<Object>());
    for name in names.iter().filter_map(|name| name.as_string()) {
        if !OPTIONS.contains(&name.as_str()) {
            return Err(JsError::new(&format!(
                "unknown option {name} (the options are {})",
                OPTIONS.join(", ")
            )));
        }
    }
    Ok(())
}

/// Read an optional property of a JS options object (checked by `check_option_names`).
fn option(options: &JsValue, name: &str) -> Result<Option<JsValue>, JsError> {
    if options.is_undefined() {
        return Ok(None);
    }
    let value = Reflect::get(options, &JsValue::from_str(name))
        .map_err(|_| JsError::new(&format!("cannot read option {name}")))?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

fn number_option(options: &JsValue, name: &str) -> Result<Option<f64>, JsError> {
    option(options, name)?
        .map(|v| {
            v.as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| JsError::new(&format!("option {name} must be a finite number")))
        })
        .transpose()
}

fn unit_option(options: &JsValue, name: &str) -> Result<Option<f32>, JsError> {
    match number_option(options, name)? {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(JsError::new(&format!(
            "option {name} must be between 0 and 1, got {v}"
        ))),
        other => Ok(other.map(|v| v as f32)),
    }
}

/// The decoding thresholds of the options, checked.
fn nms_options(options: &JsValue) -> Result<NmsConfig, JsError> {
    let mut nms = NmsConfig::default();
    if let Some(t) = unit_option(options, "scoreThreshold")? {
        nms.score_threshold = t;
    }
    if let Some(t) = unit_option(options, "iouThreshold")? {
        nms.iou_threshold = t;
    }
    if let Some(n) = count_option(options, "topK")? {
        nms.top_k = n;
    }
    if let Some(n) = count_option(options, "maxFaces")? {
        nms.max_detections = n;
    }
    Ok(nms)
}

/// A whole number of at least 1 (a fraction would be floored without a word).
fn count_option(options: &JsValue, name: &str) -> Result<Option<usize>, JsError> {
    match number_option(options, name)? {
        Some(n) if n < 1.0 || n.fract() != 0.0 => Err(JsError::new(&format!(
            "option {name} must be a whole number of at least 1, got {n}"
        ))),
        other => Ok(other.map(|n| n as usize)),
    }
}

/// `inputSize: [width, height]`, whole positive numbers, or the text `"WIDTHxHEIGHT"` as the
/// command line takes it (`model::parse_size`); the model checks multiples of 8.
fn input_size_option(options: &JsValue) -> Result<Option<(usize, usize)>, JsError> {
    let Some(value) = option(options, "inputSize")? else {
        return Ok(None);
    };
    if let Some(text) = value.as_string() {
        return parse_size(&text)
            .map(Some)
            .map_err(|e| JsError::new(&format!("option inputSize: {e}")));
    }
    let error = || JsError::new("option inputSize must be [width, height] in pixels or \"WxH\"");
    let array = value.dyn_into::<Array>().map_err(|_| error())?;
    let sides: Vec<usize> = array
        .iter()
        .map(|side| {
            side.as_f64()
                .filter(|v| *v >= 1.0 && v.fract() == 0.0 && *v <= 65536.0)
                .map(|v| v as usize)
        })
        .collect::<Option<_>>()
        .ok_or_else(error)?;
    match sides[..] {
        [width, height] => Ok(Some((width, height))),
        _ => Err(error()),
    }
}

#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<Device, String> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| e.to_string())?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// The CPU-only module has no WebGPU backend: the package loads the other module for it.
#[cfg(not(feature = "webgpu"))]
async fn webgpu_device() -> Result<Device, String> {
    Err("this is ssdface's CPU-only module (built without the webgpu feature)".to_string())
}

#[wasm_bindgen]
impl FaceDetector {
    /// Create a detector. Options (all optional): `backend` (`"auto"`, `"webgpu"` or `"cpu"`),
    /// `scoreThreshold` (0.5), `iouThreshold` (0.3), `topK` (candidates entering suppression,
    /// 100), `maxFaces` (100), `inputSize`
    /// (`[width, height]` or `"WIDTHxHEIGHT"`, multiples of 8; the model's own by default),
    /// `weights` (a `Uint8Array` of an ssdface weights file).
    pub async fn create(options: JsValue) -> Result<FaceDetector, JsError> {
        install_panic_hook();
        // Every option is checked before the (slow) device and weights set-up.
        check_option_names(&options)?;
        let nms = nms_options(&options)?;
        let input_size = input_size_option(&options)?;
        let backend = match option(&options, "backend")? {
            None => "auto".to_string(),
            Some(v) => v
                .as_string()
                .ok_or_else(|| JsError::new("option backend must be a string"))?,
        };
        let (device, backend) = match backend.as_str() {
            "cpu" => (Device::flex(), "cpu"),
            "webgpu" => (
                webgpu_device()
                    .await
                    .map_err(|e| JsError::new(&format!("WebGPU is not available: {e}")))?,
                "webgpu",
            ),
            "auto" => match webgpu_device().await {
                Ok(device) => (device, "webgpu"),
                Err(_) => (Device::flex(), "cpu"),
            },
            other => {
                return Err(JsError::new(&format!(
                    "option backend must be \"auto\", \"webgpu\" or \"cpu\", got {other:?}"
                )));
            }
        };
        let given = option(&options, "weights")?
            .map(|v| {
                v.dyn_into::<Uint8Array>()
                    .map(|bytes| bytes.to_vec())
                    .map_err(|_| JsError::new("option weights must be a Uint8Array"))
            })
            .transpose()?;
        let bytes = match &given {
            Some(bytes) => bytes.as_slice(),
            None => DEFAULT_WEIGHTS,
        };
        let mut detector =
            Detector::from_weights(bytes, device).map_err(|e| JsError::new(&e.to_string()))?;
        if let Some((width, height)) = input_size {
            detector = detector
                .with_input_size(width, height)
                .map_err(|e| JsError::new(&e.to_string()))?;
        }
        Ok(FaceDetector {
            detector: detector.with_nms(nms),
            backend,
            pixels: PixelReader::default(),
        })
    }

    /// `"webgpu"` or `"cpu"`: where the network runs.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.to_string()
    }

    /// The score threshold faces must reach.
    #[wasm_bindgen(getter, js_name = scoreThreshold)]
    pub fn score_threshold(&self) -> f32 {
        self.detector.nms().score_threshold
    }

    /// Change the score threshold (0..1) for later calls.
    #[wasm_bindgen(setter, js_name = scoreThreshold)]
    pub fn set_score_threshold(&mut self, threshold: f32) -> Result<(), JsError> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(JsError::new("scoreThreshold must be between 0 and 1"));
        }
        let nms = NmsConfig {
            score_threshold: threshold,
            ..*self.detector.nms()
        };
        self.detector = self.detector.clone().with_nms(nms);
        Ok(())
    }

    /// Faces in `source`: an `ImageData`, a canvas (`HTMLCanvasElement`, `OffscreenCanvas`),
    /// an `HTMLVideoElement`, an `HTMLImageElement`, an `ImageBitmap`, or
    /// `{ data, width, height }` with RGBA bytes. Boxes are in the source's pixels.
    pub async fn detect(&self, source: JsValue) -> Result<Array, JsError> {
        let (pixels, width, height) = self.pixels.rgba_pixels(&source)?;
        let view = ImageView::new(&pixels, width, height, PixelFormat::Rgba)
            .map_err(|e| JsError::new(&e.to_string()))?;
        let faces = self
            .detector
            .detect_async(&view)
            .await
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(faces.iter().map(face_object).collect())
    }

    /// Release the network. On WebGPU its buffers go back to the page's memory pool, which
    /// keeps them for later detectors. The detector cannot be used after.
    pub fn dispose(self) {}
}

fn face_object(face: &Face) -> JsValue {
    let object = Object::new();
    for (key, value) in [
        ("x", face.x),
        ("y", face.y),
        ("width", face.width),
        ("height", face.height),
        ("score", face.score),
    ] {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(
            &object,
            &JsValue::from_str(key),
            &JsValue::from_f64(value as f64),
        );
    }
    object.into()
}

/// Reads the pixels of drawable sources (video, canvases, bitmaps, images) through a 2D canvas,
/// kept between calls so a video does not allocate a canvas per frame.
#[derive(Default)]
struct PixelReader {
    canvas: RefCell<Option<(OffscreenCanvas, OffscreenCanvasRenderingContext2d)>>,
}

impl PixelReader {
    /// RGBA bytes and size of any supported source.
    fn rgba_pixels(&self, source: &JsValue) -> Result<(Vec<u8>, u32, u32), JsError> {
        let no_offset = 0.0;
        if let Some(image) = source.dyn_ref::<ImageData>() {
            return Ok((image.data().0, image.width(), image.height()));
        }
        if let Some(video) = source.dyn_ref::<HtmlVideoElement>() {
            if video.video_width() == 0 {
                return Err(JsError::new(
                    "the video has no frame yet (wait for loadeddata)",
                ));
            }
            return self.draw(video.video_width(), video.video_height(), |c| {
                c.draw_image_with_html_video_element(video, no_offset, no_offset)
            });
        }
        if let Some(canvas) = source.dyn_ref::<HtmlCanvasElement>() {
            return self.draw(canvas.width(), canvas.height(), |c| {
                c.draw_image_with_html_canvas_element(canvas, no_offset, no_offset)
            });
        }
        if let Some(canvas) = source.dyn_ref::<OffscreenCanvas>() {
            return self.draw(canvas.width(), canvas.height(), |c| {
                c.draw_image_with_offscreen_canvas(canvas, no_offset, no_offset)
            });
        }
        if let Some(bitmap) = source.dyn_ref::<ImageBitmap>() {
            return self.draw(bitmap.width(), bitmap.height(), |c| {
                c.draw_image_with_image_bitmap(bitmap, no_offset, no_offset)
            });
        }
        if let Some(image) = source.dyn_ref::<HtmlImageElement>() {
            if !image.complete() || image.natural_width() == 0 {
                return Err(JsError::new("the image has not loaded"));
            }
            return self.draw(image.natural_width(), image.natural_height(), |c| {
                c.draw_image_with_html_image_element(image, no_offset, no_offset)
            });
        }
        if source.is_object() {
            return raw_rgba(source);
        }
        Err(JsError::new(
            "detect() takes ImageData, a canvas, a video, an image, an ImageBitmap or \
             { data, width, height }",
        ))
    }

    /// The pixels of a `width` x `height` source that `paint` draws onto the canvas.
    fn draw(
        &self,
        width: u32,
        height: u32,
        paint: impl FnOnce(&OffscreenCanvasRenderingContext2d) -> Result<(), JsValue>,
    ) -> Result<(Vec<u8>, u32, u32), JsError> {
        if width == 0 || height == 0 {
            return Err(JsError::new(&format!(
                "the source is empty ({width}x{height})"
            )));
        }
        let mut slot = self.canvas.borrow_mut();
        let (canvas, context) = match slot.take() {
            Some(pair) => pair,
            None => {
                let canvas = OffscreenCanvas::new(width, height)
                    .map_err(|_| JsError::new("cannot create an OffscreenCanvas"))?;
                // Every frame is read back with getImageData: a CPU-backed canvas does that
                // without a copy from the GPU.
                let options = Object::new();
                let _ = Reflect::set(
                    &options,
                    &JsValue::from_str("willReadFrequently"),
                    &JsValue::TRUE,
                );
                let context = canvas
                    .get_context_with_context_options("2d", &options)
                    .ok()
                    .flatten()
                    .and_then(|c| c.dyn_into().ok())
                    .ok_or_else(|| JsError::new("cannot get a 2D context"))?;
                (canvas, context)
            }
        };
        if canvas.width() != width || canvas.height() != height {
            canvas.set_width(width);
            canvas.set_height(height);
        }
        let pixels = paint(&context)
            .map_err(|_| JsError::new("cannot draw the source (is it cross-origin?)"))
            .and_then(|()| {
                context
                    .get_image_data(0.0, 0.0, width as f64, height as f64)
                    .map_err(|_| {
                        JsError::new("cannot read the source's pixels (is it cross-origin?)")
                    })
            })
            .map(|data| data.data().0);
        *slot = Some((canvas, context));
        Ok((pixels?, width, height))
    }
}

/// `{ data, width, height }` with `width * height * 4` RGBA bytes.
fn raw_rgba(source: &JsValue) -> Result<(Vec<u8>, u32, u32), JsError> {
    let field = |name: &str| Reflect::get(source, &JsValue::from_str(name)).ok();
    let dimension = |name: &str| {
        field(name)
            .and_then(|v| v.as_f64())
            .filter(|v| *v >= 1.0 && v.fract() == 0.0 && *v <= u32::MAX as f64)
            .map(|v| v as u32)
            .ok_or_else(|| JsError::new(&format!("{name} must be a positive whole number")))
    };
    let (width, height) = (dimension("width")?, dimension("height")?);
    let data = field("data")
        .filter(|d| d.is_object())
        .map(|d| Uint8Array::new(&d).to_vec())
        .ok_or_else(|| JsError::new("data must be a Uint8Array or Uint8ClampedArray"))?;
    Ok((data, width, height))
}
