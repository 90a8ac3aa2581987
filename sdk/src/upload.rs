//! Drive uploads in the two steps the docs describe for large files: the upload method, called
//! without `fileContent`, answers where to send the content (`uploadUrl`, form field
//! `field`); a `multipart/form-data` POST of the file there creates it, and the portal
//! answers the created file. The file travels as raw bytes, not a third larger in base64
//! inside a JSON body.

use reqwest::header::CONTENT_TYPE;

use crate::codec::Same;
use crate::disk::{DiskFolderUploadFile, DiskObject, DiskUploadTarget};
use crate::wire::envelope::RawResponse;
use crate::{CallOptions, Client, Error, File, Method};

impl Client {
    /// Uploads `file` into a Drive folder in two steps: `request` (the folder, and options such
    /// as `generate_unique_name` or `data` with another name) is sent without content to get
    /// an upload URL, then the file is POSTed there as `multipart/form-data`. Returns the
    /// created file.
    ///
    /// The upload URL carries an access token and is only ever sent to the portal's own
    /// origin; an answer pointing elsewhere is refused. Neither step is retried after a
    /// failure once sent: a second POST could create a second file.
    ///
    /// ```no_run
    /// # async fn run(client: bitrix24::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use bitrix24::disk::DiskFolderUploadFile;
    /// let file = bitrix24::File::read("report.pdf").await?;
    /// let stored = client.disk_upload(DiskFolderUploadFile::new(8930), file).await?;
    /// println!("{} bytes as file {}", stored.size.unwrap_or(0), stored.id);
    /// # Ok(()) }
    /// ```
    pub async fn disk_upload(
        &self,
        mut request: DiskFolderUploadFile,
        file: File,
    ) -> Result<DiskObject, Error> {
        type M = DiskFolderUploadFile;
        request.file_content = None;
        let target: DiskUploadTarget = self
            .call_with(M::NAME, &request, CallOptions::of::<M>())
            .await?;
        let url = self.upload_url(M::NAME, target.upload_url.expose())?;
        let boundary = boundary();
        let body = multipart_body(&boundary, &target.field, &file);
        let inner = &self.inner;
        inner.limiter.acquire().await;
        tracing::debug!(method = M::NAME, bytes = file.content.len(), "uploading");
        let response = inner
            .http
            .post(url)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| Error::transport(M::NAME, e))?;
        let status = response.status().as_u16();
        let text = crate::call_path::read_body(M::NAME, response, inner.max_response_bytes).await?;
        RawResponse::from_body(M::NAME, status, text)?.decode::<DiskObject, Same>(M::NAME)
    }

    /// The upload URL, if it is on the portal's own origin.
    fn upload_url(&self, method: &str, url: &str) -> Result<url::Url, Error> {
        let refused = |why: &str| Error::Decode {
            method: method.to_owned(),
            status: 200,
            message: format!("uploadUrl {why}"),
            // The URL carries an access token: not quoted.
            body_start: String::new(),
        };
        let url = url::Url::parse(url).map_err(|_| refused("is not a URL"))?;
        if url.origin() != self.portal().origin() {
            return Err(refused("points outside the portal"));
        }
        Ok(url)
    }
}

/// A multipart boundary that can't occur in the form's own header lines: 32 random hex digits.
fn boundary() -> String {
    use std::hash::{BuildHasher, RandomState};
    let state = RandomState::new();
    format!(
        "b24-{:016x}{:016x}",
        state.hash_one(1u8),
        state.hash_one(2u8)
    )
}

/// A `multipart/form-data` body with one part: the file under `field`. Quotes and line
/// breaks in the name are escaped as browsers do, so a name can't end the header.
fn multipart_body(boundary: &str, field: &str, file: &File) -> Vec<u8> {
    let escape = |s: &str| {
        s.replace('"', "%22")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        escape(field),
        escape(&file.name)
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut body = Vec::with_capacity(head.len() + file.content.len() + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(&file.content);
    body.extend_from_slice(tail.as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_holds_the_file_under_its_field() {
        let body = multipart_body("XY", "file", &File::new("a\"b\r\n.txt", b"hi".to_vec()));
        assert_eq!(
            body,
            b"--XY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a%22b%0D%0A.txt\"\r\nContent-Type: application/octet-stream\r\n\r\nhi\r\n--XY--\r\n"
        );
        assert_ne!(boundary(), boundary());
    }

    #[test]
    fn upload_urls_outside_the_portal_are_refused() {
        let client = Client::webhook("https://portal.example.com/rest/1/secret/").unwrap();
        let ok = client.upload_url("m", "https://portal.example.com/rest/upload.json?auth=t");
        assert!(ok.is_ok());
        for bad in [
            "https://evil.example.com/rest/upload.json?auth=t",
            "http://portal.example.com/rest/upload.json",
            "not a url",
        ] {
            let e = client.upload_url("m", bad).unwrap_err().to_string();
            assert!(e.contains("uploadUrl"), "{e}");
            assert!(!e.contains("auth=t"), "{e}");
        }
    }
}
