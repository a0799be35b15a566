//! Cover art as untrusted input. An image's header can promise a canvas far larger than its file (a 466 KB PNG
//! of 15000×8000 decodes to 480 MB), so every cover is checked by content before it is kept or served, decoded
//! only with explicit limits, one decode at a time per replica, and a cover that fails is remembered on the
//! media volume so no replica decodes it twice.

use std::io::{BufReader, Read, Seek, SeekFrom};

use image::{ImageFormat, ImageReader, Limits};

/// The longest side a cover may have. Real covers are at most a few thousand pixels (3000×3000 is the common
/// high-resolution size); anything past this is refused before decoding.
pub const MAX_SIDE: u32 = 8192;
/// The most memory one decode may allocate, so a thumbnail costs a replica ~32 MB at most (one decode at a time,
/// see `DECODES`; the production limit is 128 MiB). JPEGs decode at a reduced scale and never come near it; a
/// PNG, WebP or GIF may be up to ~2,800×2,800.
pub const MAX_DECODE_BYTES: u64 = 24 * 1024 * 1024;
/// The largest cover file kept or served: real covers are a few MB (a 3000×3000 JPEG ~2-5 MB). Larger ones are
/// refused by their size alone, before a byte is read.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
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
    #[error("the image file is {0} bytes; covers may be at most {MAX_FILE_BYTES}")]
    FileTooLarge(u64),
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

/// Checks by content that `source` is a cover image within the limits, reading only its header (imagesize reads
/// the bytes up to the dimensions; a JPEG's header may sit behind large metadata segments, which it skips).
pub fn inspect<R: Read + Seek>(mut source: R) -> Result<Inspected, CoverError> {
    let length = source.seek(SeekFrom::End(0))?;
    if length > MAX_FILE_BYTES {
        return Err(CoverError::FileTooLarge(length));
    }
    source.rewind()?;
    let mut head = [0u8; 32];
    let mut filled = 0;
    while filled < head.len() {
        match source.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    let format = image::guess_format(&head[..filled]).map_err(|_| CoverError::NotAnImage)?;
    if !FORMATS.contains(&format) {
        return Err(CoverError::NotAnImage);
    }
    source.rewind()?;
    let size = imagesize::reader_size(BufReader::new(source)).map_err(|e| CoverError::Corrupt(e.to_string()))?;
    let (width, height) =
        (u32::try_from(size.width).unwrap_or(u32::MAX), u32::try_from(size.height).unwrap_or(u32::MAX));
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
    let inspected = inspect(&file)?;
    file.rewind()?;
    let image = if inspected.format == ImageFormat::Jpeg {
        decode_jpeg_scaled(BufReader::new(file), size)?
    } else {
        let mut reader = reader(BufReader::new(file))?;
        reader.limits(limits());
        reader.decode().map_err(|e| CoverError::Corrupt(e.to_string()))?
    };
    let thumb = image.thumbnail(size, size).to_rgb8();
    drop(image);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&thumb)
        .map_err(|e| CoverError::Corrupt(e.to_string()))?;
    Ok(bytes)
}

/// A JPEG decoded at the smallest DCT scale (1/8, 1/4, 1/2 or whole) still at least `size` on each side: a
/// 3000×3000 cover becomes 750×750 for a 600 px thumbnail, 1.7 MB instead of 27.
fn decode_jpeg_scaled<R: Read>(source: R, size: u32) -> Result<image::DynamicImage, CoverError> {
    use jpeg_decoder::PixelFormat;
    let corrupt = |e: jpeg_decoder::Error| CoverError::Corrupt(e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(source);
    decoder.set_max_decoding_buffer_size(usize::try_from(MAX_DECODE_BYTES).unwrap_or(usize::MAX));
    let side = u16::try_from(size).unwrap_or(u16::MAX);
    decoder.scale(side, side).map_err(corrupt)?;
    let info = decoder.info().ok_or_else(|| CoverError::Corrupt("no JPEG frame".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if u64::from(width) * u64::from(height) * info.pixel_format.pixel_bytes() as u64 > MAX_DECODE_BYTES {
        return Err(CoverError::Corrupt("the image is too large to decode".into()));
    }
    let pixels = decoder.decode().map_err(corrupt)?;
    let short = || CoverError::Corrupt("the JPEG decoded to fewer pixels than its header says".into());
    Ok(match info.pixel_format {
        PixelFormat::L8 => image::GrayImage::from_raw(width, height, pixels).ok_or_else(short)?.into(),
        PixelFormat::RGB24 => image::RgbImage::from_raw(width, height, pixels).ok_or_else(short)?.into(),
        PixelFormat::L16 => {
            let wide = pixels.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect();
            image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(width, height, wide).ok_or_else(short)?.into()
        }
        // Adobe's CMYK JPEGs store inverted ink; the decoder hands it over as stored.
        PixelFormat::CMYK32 => {
            let rgb = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u16::from(p[3]);
                    [0, 1, 2].map(|i| (u16::from(p[i]) * k / 255) as u8)
                })
                .collect();
            image::RgbImage::from_raw(width, height, rgb).ok_or_else(short)?.into()
        }
    })
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

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&image).expect("encode");
        bytes
    }

    #[test]
    fn a_jpeg_behind_large_metadata_is_checked_from_its_header_alone() {
        // 60 KB of an APP1 segment before the frame header, then the image: imagesize skips the segment.
        let plain = jpeg(640, 480);
        let mut padded = plain[..2].to_vec();
        padded.extend([0xFF, 0xE1, 0xEA, 0x62]);
        padded.extend(std::iter::repeat_n(0u8, 0xEA62 - 2));
        padded.extend(&plain[2..]);
        let inspected = inspect_bytes(&padded).expect("accepted");
        assert_eq!((inspected.format, inspected.width, inspected.height), (ImageFormat::Jpeg, 640, 480));
        // A file over the size cap is refused by its length, before any read.
        struct Huge;
        impl Read for Huge {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                panic!("read a byte of a file refused by its size")
            }
        }
        impl Seek for Huge {
            fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
                Ok(150 * 1024 * 1024)
            }
        }
        assert!(matches!(inspect(Huge), Err(CoverError::FileTooLarge(_))));
    }

    #[test]
    fn a_large_jpeg_thumbnail_is_decoded_at_a_reduced_scale() {
        let data = jpeg(2400, 1600);
        let scaled = decode_jpeg_scaled(std::io::Cursor::new(&data), 300).expect("decoded");
        assert_eq!((scaled.width(), scaled.height()), (300, 200), "1/8 scale: 300 px still covers the asked size");
        let half = decode_jpeg_scaled(std::io::Cursor::new(&data), 1000).expect("decoded");
        assert_eq!((half.width(), half.height()), (1200, 800));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cover.jpg");
        std::fs::write(&path, &data).unwrap();
        let thumb = thumbnail(std::fs::File::open(&path).unwrap(), 256).expect("thumbnail");
        let made = image::load_from_memory(&thumb).unwrap();
        assert_eq!((made.width(), made.height()), (256, 171));
    }

    #[test]
    fn a_truncated_image_is_refused() {
        let data = png(64, 64);
        assert!(inspect_bytes(&data[..20]).is_err());
    }
}
