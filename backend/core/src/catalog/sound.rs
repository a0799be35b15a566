//! Songs by how they sound: every analysed song's vector ([`crate::sonic`]), tempo and key in one replica's
//! memory, and the nearest neighbours of a vector by exhaustive search.
//!
//! Exhaustive on purpose: 100,000 songs are 2.8 MB of vectors read in one pass (bench/sonic.sh: a whole
//! `/similar` request, its database read included, p99 3.2 ms on this project's 2 cores), exact, and the same
//! answer on every replica (ties go to the smaller id), where an approximate index would add memory, build time
//! and answers that depend on insertion order. Per song: 28 bytes of vector, the song and album ids (32), tempo
//! and key (5) and the id's slot in the map: 94 bytes measured.

use std::collections::{BinaryHeap, HashMap, HashSet};

use uuid::Uuid;

use crate::sonic::Vector;

/// A song as this index takes it: without a vector (not analysed yet, or silent) it is left out.
pub struct SoundRow {
    pub id: Uuid,
    pub album_id: Uuid,
    pub bpm: Option<f32>,
    pub key: Option<i16>,
    pub vector: Option<Vector>,
}

/// What a neighbour must be.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Songs never returned (the seed itself, what a radio already played).
    pub exclude: HashSet<Uuid>,
    /// Leave out this album's songs.
    pub other_than_album: Option<Uuid>,
    /// Tempo range, inclusive; a song of unknown tempo is outside every range.
    pub bpm_min: Option<f32>,
    pub bpm_max: Option<f32>,
    /// Only songs in this key (as stored: [`crate::sonic::Key::code`]).
    pub key: Option<i16>,
}

impl Filter {
    fn admits(&self, sounds: &Sounds, slot: usize) -> bool {
        // An unknown tempo (NaN) is in no range: `is_ge`/`is_le` of an incomparable pair are false.
        let bpm = sounds.bpm[slot];
        let in_range = |bound: Option<f32>, fits: fn(std::cmp::Ordering) -> bool| {
            bound.is_none_or(|b| bpm.partial_cmp(&b).is_some_and(fits))
        };
        if !in_range(self.bpm_min, std::cmp::Ordering::is_ge) || !in_range(self.bpm_max, std::cmp::Ordering::is_le) {
            return false;
        }
        if self.key.is_some_and(|key| i16::from(sounds.keys[slot]) != key) {
            return false;
        }
        if self.other_than_album == Some(sounds.albums[slot]) {
            return false;
        }
        !self.exclude.contains(&sounds.ids[slot])
    }
}

/// The analysed songs, in parallel arrays (the vectors contiguous, so a search reads nothing else until a song
/// is close enough to be a candidate).
#[derive(Default)]
pub struct Sounds {
    ids: Vec<Uuid>,
    albums: Vec<Uuid>,
    vectors: Vec<Vector>,
    /// NaN when unknown.
    bpm: Vec<f32>,
    /// -1 when unknown.
    keys: Vec<i8>,
    slots: HashMap<Uuid, u32>,
}

impl Sounds {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn put(&mut self, row: SoundRow) {
        let Some(vector) = row.vector else { return self.remove(row.id) };
        let bpm = row.bpm.unwrap_or(f32::NAN);
        let key = row.key.and_then(|k| i8::try_from(k).ok()).unwrap_or(-1);
        if let Some(&slot) = self.slots.get(&row.id) {
            let slot = slot as usize;
            (self.albums[slot], self.vectors[slot], self.bpm[slot], self.keys[slot]) = (row.album_id, vector, bpm, key);
            return;
        }
        self.slots.insert(row.id, u32::try_from(self.ids.len()).expect("fewer than 4 billion songs"));
        self.ids.push(row.id);
        self.albums.push(row.album_id);
        self.vectors.push(vector);
        self.bpm.push(bpm);
        self.keys.push(key);
    }

    pub fn remove(&mut self, id: Uuid) {
        let Some(slot) = self.slots.remove(&id) else { return };
        let slot = slot as usize;
        self.ids.swap_remove(slot);
        self.albums.swap_remove(slot);
        self.vectors.swap_remove(slot);
        self.bpm.swap_remove(slot);
        self.keys.swap_remove(slot);
        if let Some(moved) = self.ids.get(slot) {
            self.slots.insert(*moved, slot as u32);
        }
    }

    pub fn vector(&self, id: Uuid) -> Option<Vector> {
        self.slots.get(&id).map(|&slot| self.vectors[slot as usize])
    }

    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.albums.shrink_to_fit();
        self.vectors.shrink_to_fit();
        self.bpm.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.slots.shrink_to_fit();
    }

    /// The `limit` songs closest to `target` that `filter` admits, closest first, with their distances.
    pub fn nearest(&self, target: &Vector, limit: usize, filter: &Filter) -> Vec<(Uuid, u32)> {
        if limit == 0 {
            return Vec::new();
        }
        // The `limit` best so far, worst on top: a song further than the worst kept is not looked at twice.
        let mut best: BinaryHeap<(u32, Uuid)> = BinaryHeap::with_capacity(limit + 1);
        for (slot, vector) in self.vectors.iter().enumerate() {
            let distance = target.distance(vector);
            if best.len() == limit && best.peek().is_some_and(|&(worst, id)| (distance, self.ids[slot]) >= (worst, id))
            {
                continue;
            }
            if !filter.admits(self, slot) {
                continue;
            }
            best.push((distance, self.ids[slot]));
            if best.len() > limit {
                best.pop();
            }
        }
        best.into_sorted_vec().into_iter().map(|(distance, id)| (id, distance)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sonic::DIMS;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn row(n: u128, album: u128, value: i8, bpm: Option<f32>, key: Option<i16>) -> SoundRow {
        SoundRow { id: id(n), album_id: id(album), bpm, key, vector: Some(Vector([value; DIMS])) }
    }

    #[test]
    fn nearest_first_ties_by_id_and_filters_apply() {
        let mut sounds = Sounds::default();
        for (n, album, value, bpm, key) in [
            (1, 100, 0, Some(120.0), Some(0)),
            (2, 100, 1, Some(90.0), Some(19)),
            (3, 200, -1, None, None),
            (4, 200, 5, Some(128.0), Some(0)),
            (5, 300, 1, Some(175.0), Some(0)),
        ] {
            sounds.put(row(n, album, value, bpm, key));
        }
        let target = Vector([0; DIMS]);
        let ids = |found: Vec<(Uuid, u32)>| found.into_iter().map(|(id, _)| id.as_u128()).collect::<Vec<_>>();
        assert_eq!(ids(sounds.nearest(&target, 10, &Filter::default())), [1, 2, 3, 5, 4]);
        assert_eq!(ids(sounds.nearest(&target, 2, &Filter::default())), [1, 2]);
        assert_eq!(sounds.nearest(&target, 1, &Filter::default()), [(id(1), 0)]);
        let exclude = Filter { exclude: [id(1)].into(), other_than_album: Some(id(200)), ..Filter::default() };
        assert_eq!(ids(sounds.nearest(&target, 10, &exclude)), [2, 5]);
        let tempo = Filter { bpm_min: Some(100.0), bpm_max: Some(130.0), ..Filter::default() };
        assert_eq!(ids(sounds.nearest(&target, 10, &tempo)), [1, 4]);
        let key = Filter { key: Some(0), ..Filter::default() };
        assert_eq!(ids(sounds.nearest(&target, 10, &key)), [1, 5, 4]);
        assert!(sounds.nearest(&target, 0, &Filter::default()).is_empty());
    }

    #[test]
    fn changes_and_removals_keep_the_arrays_in_step() {
        let mut sounds = Sounds::default();
        for n in 1..=4 {
            sounds.put(row(n, 100, n as i8, None, None));
        }
        sounds.remove(id(2));
        assert_eq!(sounds.len(), 3);
        assert_eq!(sounds.vector(id(4)), Some(Vector([4; DIMS])));
        sounds.put(row(4, 100, -9, None, None));
        assert_eq!(sounds.vector(id(4)), Some(Vector([-9; DIMS])));
        // A song whose vector went (analysed again as silence) leaves the index.
        sounds.put(SoundRow { vector: None, ..row(1, 100, 0, None, None) });
        assert_eq!(sounds.vector(id(1)), None);
        assert_eq!(sounds.len(), 2);
        let found: Vec<u128> =
            sounds.nearest(&Vector([0; DIMS]), 10, &Filter::default()).into_iter().map(|(i, _)| i.as_u128()).collect();
        assert_eq!(found, [3, 4]);
        sounds.remove(id(99));
        assert_eq!(sounds.len(), 2);
    }
}
