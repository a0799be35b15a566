//! Cover art as untrusted input. An image's header can promise a canvas far larger than its file (a 466 KB PNG
//! of 15000×8000 decodes to 480 MB), so every cover is checked by content before it is kept or served, decoded
//! only with explicit limits, one decode at a time per replica, and a cover that fails is remembered on the
//! media volume so no replica decodes it twice.

use std::io::{BufReader, Read, Seek};

use image::{ImageFormat, ImageReader, Limits};

/// The longest side a cover may have. Real covers are at most a few thousand pixels (3000×3000 is the common
/// high-resolution size); anything past this is refused before decoding.
pub const MAX_SIDE: u32 = 8192;
/// The most memory one decode may allocate: a 4000×4000 RGB JPEG fits, with the replica's 128 MiB limit in
/// mind (one decode at a time, see `DECODES`).
pub const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;
/// Formats accepted as covers (what the `image` crate is built with).
const FORMATS: [ImageFormat; 4] = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP, ImageFormat::Gif];

/// One thumbnail decode at a time per replica: each may take up to `MAX_DECODE_BYTES`.
pub static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

#[derive(Debug, thiserror::Error)]
pub enum CoverError {
    #[error("not an image in a supported format (JPEG, PNG, WebP, GIF)")]
    NotAnImage,
    #[error("the image is {width}×{height}; covers may be at most {MAX_SIDE} pixels a side")]
    TooLarge { width: u32, height: u32 },
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A cover's format and size, read from its header only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

impl Inspected {
    pub fn mime(&self) -> &'static str {
        self.format.to_mime_type()
    }

    pub fn extension(&self) -> &'static str {
        self.format.extensions_str().first().copied().unwrap_or("img")
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn reader<R: std::io::BufRead + Seek>(source: R) -> Result<ImageReader<R>, CoverError> {
    let reader = ImageReader::new(source).with_guessed_format()?;
    match reader.format() {
        Some(format) if FORMATS.contains(&format) => {}
        _ => return Err(CoverError::NotAnImage),
    }
    Ok(reader)
}

/// Checks by content that `source` is a cover image within the limits, reading only its header.
pub fn inspect<R: Read + Seek>(source: R) -> Result<Inspected, CoverError> {
    // No decoder limits here: reading the header allocates nothing proportional to the canvas, and without them
    // the refusal can say how large the image claims to be.
    let reader = reader(BufReader::new(source))?;
    let format = reader.format().ok_or(CoverError::NotAnImage)?;
    let (width, height) = reader.into_dimensions().map_err(|e| CoverError::Corrupt(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(CoverError::Corrupt("the image is empty".into()));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(CoverError::TooLarge { width, height });
    }
    Ok(Inspected { format, width, height })
}

/// `inspect` for bytes in memory (embedded art).
pub fn inspect_bytes(data: &[u8]) -> Result<Inspected, CoverError> {
    inspect(std::io::Cursor::new(data))
}

/// Decodes a cover (limits enforced by the decoder, not only by the header) and encodes a JPEG thumbnail that
/// fits in `size`×`size`.
pub fn thumbnail(mut file: std::fs::File, size: u32) -> Result<Vec<u8>, CoverError> {
    inspect(&file)?;
    file.rewind()?;
    let mut reader = reader(BufReader::new(file))?;
    reader.limits(limits());
    let image = reader.decode().map_err(|e| CoverError::Corrupt(e.to_string()))?;
    let thumb = image.thumbnail(size, size).to_rgb8();
    drop(image);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&thumb)
        .map_err(|e| CoverError::Corrupt(e.to_string()))?;
    Ok(bytes)
}

/// The media type of a stored cover, by the extension it was stored under.
pub fn mime_of_extension(extension: &str) -> &'static str {
    ImageFormat::from_extension(extension).map_or("application/octet-stream", |f| f.to_mime_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbImage::new(width, height)
            .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
            .expect("encode");
        bytes
    }

    #[test]
    fn a_normal_cover_passes_with_its_format_and_size() {
        let inspected = inspect_bytes(&png(300, 200)).expect("accepted");
        assert_eq!(inspected, Inspected { format: ImageFormat::Png, width: 300, height: 200 });
        assert_eq!(inspected.mime(), "image/png");
    }

    #[test]
    fn a_header_promising_a_huge_canvas_is_refused_without_decoding() {
        // 9000×16 encodes small; the refusal comes from the header's width alone.
        assert!(matches!(inspect_bytes(&png(9000, 16)), Err(CoverError::TooLarge { width: 9000, height: 16 })));
    }

    #[test]
    fn text_named_like_an_image_is_not_an_image() {
        assert!(matches!(inspect_bytes(b"DATABASE_URL=postgres://secret\0"), Err(CoverError::NotAnImage)));
        assert!(matches!(inspect_bytes(b""), Err(CoverError::NotAnImage)));
    }

    #[test]
    fn a_truncated_image_is_refused() {
        let data = png(64, 64);
        assert!(inspect_bytes(&data[..20]).is_err());
    }
}
