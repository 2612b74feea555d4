//! The image phase: every container's image must be present (Berth never
//! pulls); a missing one leaves its container waiting with
//! `ErrImageNeverPull`.

use berth_api::event::EventType;
use tokio::time::Instant;

use super::sync::PodSync;
use super::{IMAGE_PRESENT_TTL, PodWorker, rt};
use crate::agent::AgentError;
use crate::agent::status::Waiting;
use crate::image::normalize;
use crate::runtime::Runtime;

impl<R: Runtime> PodWorker<R> {
    /// Whether `image` is present (a positive answer is kept for
    /// [`IMAGE_PRESENT_TTL`]; were it removed meanwhile, CreateContainer
    /// fails and the pod is retried).
    async fn image_present(&self, image: &str) -> Result<bool, AgentError> {
        let fresh = |t: &Instant| t.elapsed() < IMAGE_PRESENT_TTL;
        if self
            .images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(image)
            .is_some_and(fresh)
        {
            return Ok(true);
        }
        let present = self
            .runtime
            .image_id(image)
            .await
            .map_err(rt(format!("looking up image {image}")))?
            .is_some();
        let mut images = self.images.lock().unwrap_or_else(|p| p.into_inner());
        if present {
            images.insert(image.to_owned(), Instant::now());
        } else {
            images.remove(image);
        }
        images.retain(|_, t| fresh(t));
        Ok(present)
    }

    /// The normalized image of each container, each looked up; a missing
    /// one marks its container waiting (and `s.images_missing`).
    pub(super) async fn check_images(
        &self,
        s: &mut PodSync<'_>,
    ) -> Result<Vec<String>, AgentError> {
        let pod = s.pod;
        let mut images = Vec::with_capacity(pod.spec.containers.len());
        for (i, c) in pod.spec.containers.iter().enumerate() {
            let image = normalize(&c.image);
            if !self.image_present(&image).await? {
                s.images_missing = true;
                let message = format!(
                    "Container image {:?} is not present on the node and Berth never pulls images \
                     (import it: berth image import)",
                    c.image
                );
                self.event(
                    pod,
                    EventType::Warning,
                    "ErrImageNeverPull",
                    &c.name,
                    message.clone(),
                );
                s.observed[i].waiting = Some(Waiting {
                    reason: "ErrImageNeverPull".into(),
                    message,
                });
            }
            images.push(image);
        }
        Ok(images)
    }
}
