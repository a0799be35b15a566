//! The search index each replica keeps in memory: the catalogue's folded words and, for each word, the songs,
//! albums and artists it occurs in. Pure data: no database, no clock. [`super::search`] loads it, keeps it
//! current from the database's change notifications and turns its answers into rows.
//!
//! The rules are those the database's `fermata_search_query` had (migrations 000004 and 000007), so search
//! behaves as before, only without a round trip per word:
//! - text is folded (accents and case; [`fold`]) and split into words at anything not a letter or digit;
//! - a query counts its eight longest distinct words (a 200-character query of single letters costs eight);
//! - each query word matches itself, the eight shortest catalogue words it begins (from two letters: typing as
//!   you search) and the eight catalogue words it most resembles (from three letters: typos), resemblance
//!   being pg_trgm's word similarity over trigrams (at least 0.45, so "dvork" finds "dvorak");
//! - a result matches every query word (AND), each through any of its alternatives (OR).
//!
//! Memory is postings of 4-byte slots per word occurrence plus the words themselves; docs/performance.md
//! states it for 100,000 songs.

use std::collections::BTreeMap;

// foldhash, not std's SipHash: the keys are word ids, slots and UUIDs the index made or the database issued, and
// hashing and rehashing were a sixth of the backend's CPU in a selective search (docs/performance.md).
use foldhash::HashMap;

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
use uuid::Uuid;

/// Query words that count, at most (the longest ones).
pub const MAX_TERMS: usize = 8;
/// Alternatives per query word by prefix, and again by resemblance.
pub const EXPANSIONS: usize = 8;
/// pg_trgm's word similarity a catalogue word needs to count as a typo of a query word.
pub const SIMILARITY: f32 = 0.45;
/// Characters of a query that are read (what pg's search read too).
pub const MAX_QUERY_CHARS: usize = 200;

/// Lower-cased text without accents: compatibility decomposition (fullwidth letters, ligatures such as "ﬁ"),
/// combining marks dropped, then the letters that carry no combining mark mapped as PostgreSQL's `unaccent`
/// maps them ("ß" → "ss", "ø" → "o", "æ" → "ae").
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut folded = String::with_capacity(text.len());
    for c in text.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'ß' | 'ẞ' => folded.push_str("ss"),
            'æ' | 'Æ' => folded.push_str("ae"),
            'œ' | 'Œ' => folded.push_str("oe"),
            'þ' | 'Þ' => folded.push_str("th"),
            'ø' | 'Ø' => folded.push('o'),
            'ł' | 'Ł' => folded.push('l'),
            'đ' | 'Đ' | 'ð' | 'Ð' => folded.push('d'),
            'ħ' | 'Ħ' => folded.push('h'),
            'ı' => folded.push('i'),
            _ => folded.extend(c.to_lowercase()),
        }
    }
    folded
}

/// The words of already folded text: runs of letters and digits.
pub fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// A trigram as pg_trgm pads words: two spaces before, one after ("  a", " ab", "abc", …, "yz ").
type Trigram = [char; 3];

fn trigrams(word: &str) -> Vec<Trigram> {
    let padded: Vec<char> = [' ', ' '].into_iter().chain(word.chars()).chain([' ']).collect();
    let mut grams: Vec<Trigram> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// Every distinct word of the catalogue, with its trigrams for typo lookups. Words only ever join (those of
/// deleted rows stay and expand to nothing), as in the database's vocabulary before; a full reload starts
/// afresh.
#[derive(Default)]
struct Vocabulary {
    /// Sorted, for prefixes.
    ids: BTreeMap<Box<str>, u32>,
    words: Vec<Box<str>>,
    /// Distinct trigrams of each word.
    trigram_counts: Vec<u8>,
    by_trigram: HashMap<Trigram, Vec<u32>>,
}

impl Vocabulary {
    fn id(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = u32::try_from(self.words.len()).expect("fewer than 4 billion words");
        let grams = trigrams(word);
        self.trigram_counts.push(u8::try_from(grams.len()).unwrap_or(u8::MAX));
        for gram in grams {
            self.by_trigram.entry(gram).or_default().push(id);
        }
        self.words.push(word.into());
        self.ids.insert(word.into(), id);
        id
    }

    /// The word itself (if known), the shortest words it begins and the words it most resembles.
    fn alternatives(&self, term: &str) -> Vec<u32> {
        let mut found: Vec<u32> = self.ids.get(term).copied().into_iter().collect();
        let length = term.chars().count();
        if length >= 2 {
            let mut begun: Vec<(&str, u32)> = self
                .ids
                .range::<str, _>((std::ops::Bound::Excluded(term), std::ops::Bound::Unbounded))
                .take_while(|(word, _)| word.starts_with(term))
                .map(|(word, &id)| (&**word, id))
                .collect();
            begun.sort_unstable_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
            found.extend(begun.into_iter().take(EXPANSIONS).map(|(_, id)| id));
        }
        if length >= 3 {
            found.extend(self.resembling(term));
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Up to [`EXPANSIONS`] words by pg_trgm's `word_similarity(term, word)` (the share of the term's trigrams
    /// the word has), then `similarity` (shared over all), then the word.
    fn resembling(&self, term: &str) -> Vec<u32> {
        let grams = trigrams(term);
        // Shared trigrams per word, counted in a dense array (a number's trigrams such as "  4" can be in a
        // ninth of a catalogue's words: a hash map of the counts was most of a typo lookup). Words reaching the
        // threshold are noted as they reach it, so the array is never scanned.
        let wanted = grams.len() as f32;
        let needed = (SIMILARITY * wanted).ceil().max(1.0) as u8;
        let mut shared = vec![0u8; self.words.len()];
        let mut candidates = Vec::new();
        for gram in &grams {
            for &id in self.by_trigram.get(gram).map(Vec::as_slice).unwrap_or_default() {
                let count = &mut shared[id as usize];
                *count = count.saturating_add(1);
                if *count == needed {
                    candidates.push(id);
                }
            }
        }
        let mut scored: Vec<(f32, f32, u32)> = candidates
            .into_iter()
            .filter_map(|id| {
                let common = f32::from(shared[id as usize]);
                let word_similarity = common / wanted;
                let union = wanted + f32::from(self.trigram_counts[id as usize]) - common;
                (word_similarity >= SIMILARITY).then_some((word_similarity, common / union, id))
            })
            .collect();
        scored.sort_unstable_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(b.1.total_cmp(&a.1))
                .then_with(|| self.words[a.2 as usize].cmp(&self.words[b.2 as usize]))
        });
        scored.into_iter().take(EXPANSIONS).map(|(_, _, id)| id).collect()
    }
}

/// A parsed query: its folded whole (for exact-title comparisons) and, per counted word, the catalogue words
/// that satisfy it.
pub struct Query {
    folded: String,
    /// Per query word: whether it is itself a catalogue word (its id first if so), and its alternatives.
    terms: Vec<Term>,
}

struct Term {
    own: Option<u32>,
    alternatives: Vec<u32>,
}

impl Query {
    /// Nothing can match: the query has no words.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The catalogue words each counted query word expands to.
    #[cfg(test)]
    fn expansions(&self, index: &Index) -> Vec<Vec<String>> {
        let word = |id: &u32| index.vocabulary.words[*id as usize].to_string();
        self.terms.iter().map(|t| t.alternatives.iter().map(word).collect()).collect()
    }

    /// `words` (sorted) satisfy every term. Both sides are sorted: a merge, not a scan per alternative (a
    /// broad word ranks thousands of songs this way).
    fn satisfied_by(&self, words: &[u32]) -> bool {
        self.terms.iter().all(|t| share_one(&t.alternatives, words))
    }

    /// Query words found as they are (not through a prefix or a typo) among `words` (sorted).
    fn exact_hits(&self, words: &[u32]) -> usize {
        self.terms.iter().filter(|t| t.own.is_some_and(|own| words.binary_search(&own).is_ok())).count()
    }
}

/// Whether two sorted lists have an element in common.
fn share_one(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Rows of one kind (songs, albums or artists) with their words: slots reused after removals, postings kept
/// sorted by slot.
struct Collection<D> {
    slots: Vec<Option<Entry<D>>>,
    free: Vec<u32>,
    by_id: HashMap<Uuid, u32>,
    postings: HashMap<u32, Vec<u32>>,
}

struct Entry<D> {
    id: Uuid,
    words: Box<[u32]>,
    doc: D,
}

impl<D> Default for Collection<D> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), by_id: HashMap::default(), postings: HashMap::default() }
    }
}

impl<D> Collection<D> {
    fn len(&self) -> usize {
        self.by_id.len()
    }

    #[cfg(test)]
    fn get(&self, id: Uuid) -> Option<&D> {
        self.by_id.get(&id).and_then(|&slot| self.slots[slot as usize].as_ref()).map(|e| &e.doc)
    }

    fn insert(&mut self, id: Uuid, mut words: Vec<u32>, doc: D) -> Option<D> {
        let old = self.remove(id);
        words.sort_unstable();
        words.dedup();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).expect("fewer than 4 billion rows")
            }
        };
        for word in &words {
            let posting = self.postings.entry(*word).or_default();
            let at = posting.partition_point(|&s| s < slot);
            posting.insert(at, slot);
        }
        self.slots[slot as usize] = Some(Entry { id, words: words.into(), doc });
        self.by_id.insert(id, slot);
        old
    }

    fn remove(&mut self, id: Uuid) -> Option<D> {
        let slot = self.by_id.remove(&id)?;
        let entry = self.slots[slot as usize].take()?;
        for word in entry.words.iter() {
            if let Some(posting) = self.postings.get_mut(word) {
                if let Ok(at) = posting.binary_search(&slot) {
                    posting.remove(at);
                }
                if posting.is_empty() {
                    self.postings.remove(word);
                }
            }
        }
        self.free.push(slot);
        Some(entry.doc)
    }

    /// Slots of the rows with a word satisfying every term.
    fn matching(&self, query: &Query) -> Vec<u32> {
        let mut per_term: Vec<Vec<u32>> = query
            .terms
            .iter()
            .map(|term| {
                let mut slots: Vec<u32> = term
                    .alternatives
                    .iter()
                    .filter_map(|w| self.postings.get(w))
                    .flat_map(|p| p.iter().copied())
                    .collect();
                slots.sort_unstable();
                slots.dedup();
                slots
            })
            .collect();
        // Narrowest first: each intersection can only shrink.
        per_term.sort_by_key(Vec::len);
        let mut terms = per_term.into_iter();
        let Some(mut found) = terms.next() else { return Vec::new() };
        for other in terms {
            found.retain(|slot| other.binary_search(slot).is_ok());
        }
        found
    }

    fn shrink_to_fit(&mut self) {
        self.slots.shrink_to_fit();
        self.by_id.shrink_to_fit();
        self.postings.shrink_to_fit();
        self.postings.values_mut().for_each(Vec::shrink_to_fit);
    }

    fn entry(&self, slot: u32) -> &Entry<D> {
        self.slots[slot as usize].as_ref().expect("postings name live slots")
    }
}

/// What search ranks a song by besides its words.
pub struct SongDoc {
    /// Folded title.
    pub title: Box<str>,
    /// Words of the title alone, sorted (a title match ranks above an artist or album match).
    title_words: Box<[u32]>,
    pub album_id: Uuid,
    pub artist_id: Uuid,
    pub plays: i64,
}

pub struct NameDoc {
    /// Folded title or name: exact matches first, then in this order.
    pub folded: Box<str>,
    /// For albums, the album artist.
    pub artist_id: Option<Uuid>,
}

/// A song as the index takes it.
pub struct SongRow<'a> {
    pub id: Uuid,
    pub title: &'a str,
    /// Title, artists and album, as the catalogue stores it for search.
    pub search_text: &'a str,
    pub album_id: Uuid,
    pub artist_id: Uuid,
    pub plays: i64,
}

/// The index: vocabulary, songs, albums and artists, and how many songs and albums each album and artist has
/// (an album or artist without songs is not listed).
#[derive(Default)]
pub struct Index {
    vocabulary: Vocabulary,
    songs: Collection<SongDoc>,
    albums: Collection<NameDoc>,
    artists: Collection<NameDoc>,
    album_songs: HashMap<Uuid, u32>,
    artist_songs: HashMap<Uuid, u32>,
    artist_albums: HashMap<Uuid, u32>,
}

fn count(counts: &mut HashMap<Uuid, u32>, id: Uuid, up: bool) {
    if up {
        *counts.entry(id).or_default() += 1;
    } else if let Some(n) = counts.get_mut(&id) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&id);
        }
    }
}

/// Sizes, for logs and the performance notes.
#[derive(Debug)]
pub struct Sizes {
    pub songs: usize,
    pub albums: usize,
    pub artists: usize,
    pub words: usize,
}

impl Index {
    pub fn sizes(&self) -> Sizes {
        Sizes {
            songs: self.songs.len(),
            albums: self.albums.len(),
            artists: self.artists.len(),
            words: self.vocabulary.words.len(),
        }
    }

    /// Gives back what growing by doubling left unused (after a full build: about a fifth of the index).
    pub fn shrink_to_fit(&mut self) {
        let vocabulary = &mut self.vocabulary;
        vocabulary.words.shrink_to_fit();
        vocabulary.trigram_counts.shrink_to_fit();
        vocabulary.by_trigram.shrink_to_fit();
        vocabulary.by_trigram.values_mut().for_each(Vec::shrink_to_fit);
        self.songs.shrink_to_fit();
        self.albums.shrink_to_fit();
        self.artists.shrink_to_fit();
    }

    fn word_ids(&mut self, folded: &str) -> Vec<u32> {
        words(folded).map(|w| self.vocabulary.id(w)).collect()
    }

    pub fn put_song(&mut self, row: SongRow<'_>) {
        let title = fold(row.title);
        let mut title_words: Vec<u32> = self.word_ids(&title);
        let mut all = self.word_ids(&fold(row.search_text));
        all.extend(&title_words);
        title_words.sort_unstable();
        title_words.dedup();
        let doc = SongDoc {
            title: title.into(),
            title_words: title_words.into(),
            album_id: row.album_id,
            artist_id: row.artist_id,
            plays: row.plays,
        };
        let (album, artist) = (doc.album_id, doc.artist_id);
        if let Some(old) = self.songs.insert(row.id, all, doc) {
            count(&mut self.album_songs, old.album_id, false);
            count(&mut self.artist_songs, old.artist_id, false);
        }
        count(&mut self.album_songs, album, true);
        count(&mut self.artist_songs, artist, true);
    }

    pub fn remove_song(&mut self, id: Uuid) {
        if let Some(old) = self.songs.remove(id) {
            count(&mut self.album_songs, old.album_id, false);
            count(&mut self.artist_songs, old.artist_id, false);
        }
    }

    pub fn put_album(&mut self, id: Uuid, title: &str, artist_id: Uuid) {
        let folded = fold(title);
        let words = self.word_ids(&folded);
        if let Some(old) = self.albums.insert(id, words, NameDoc { folded: folded.into(), artist_id: Some(artist_id) })
        {
            count(&mut self.artist_albums, old.artist_id.expect("albums have an artist"), false);
        }
        count(&mut self.artist_albums, artist_id, true);
    }

    pub fn remove_album(&mut self, id: Uuid) {
        if let Some(old) = self.albums.remove(id) {
            count(&mut self.artist_albums, old.artist_id.expect("albums have an artist"), false);
        }
    }

    pub fn put_artist(&mut self, id: Uuid, name: &str) {
        let folded = fold(name);
        let words = self.word_ids(&folded);
        self.artists.insert(id, words, NameDoc { folded: folded.into(), artist_id: None });
    }

    pub fn remove_artist(&mut self, id: Uuid) {
        self.artists.remove(id);
    }

    /// `q` parsed against this index's vocabulary.
    pub fn query(&self, q: &str) -> Query {
        let q: String = q.trim().chars().take(MAX_QUERY_CHARS).collect();
        let folded = fold(&q);
        let mut distinct: Vec<&str> = words(&folded).collect();
        distinct.sort_unstable_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        distinct.dedup();
        distinct.truncate(MAX_TERMS);
        let terms = distinct
            .iter()
            .map(|term| Term {
                own: self.vocabulary.ids.get(*term).copied(),
                alternatives: self.vocabulary.alternatives(term),
            })
            .collect();
        Query { folded: folded.trim().to_owned(), terms }
    }

    /// Matching songs, best first, at most `limit`: an exact title, then a title that matches, then the most
    /// query words found as typed (not through a prefix or a typo), then plays, then id.
    pub fn songs(&self, query: &Query, limit: usize) -> Vec<Uuid> {
        let mut ranked: Vec<(bool, bool, usize, i64, Uuid)> = self
            .songs
            .matching(query)
            .into_iter()
            .map(|slot| {
                let entry = self.songs.entry(slot);
                let doc = &entry.doc;
                (
                    *doc.title == *query.folded,
                    query.satisfied_by(&doc.title_words),
                    query.exact_hits(&entry.words),
                    doc.plays,
                    entry.id,
                )
            })
            .collect();
        let order = |a: &(bool, bool, usize, i64, Uuid), b: &(bool, bool, usize, i64, Uuid)| {
            b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)).then(b.3.cmp(&a.3)).then(a.4.cmp(&b.4))
        };
        best(&mut ranked, limit, order);
        ranked.into_iter().map(|r| r.4).collect()
    }

    /// Matching albums that have songs, an exact title first, then by folded title, then id.
    pub fn albums(&self, query: &Query, limit: usize) -> Vec<Uuid> {
        by_name(&self.albums, query, limit, |id| self.album_songs.contains_key(&id))
    }

    /// Matching artists that have songs or albums, an exact name first, then by folded name, then id.
    pub fn artists(&self, query: &Query, limit: usize) -> Vec<Uuid> {
        by_name(&self.artists, query, limit, |id| {
            self.artist_songs.contains_key(&id) || self.artist_albums.contains_key(&id)
        })
    }

    /// The song's document, if indexed.
    #[cfg(test)]
    fn song(&self, id: Uuid) -> Option<&SongDoc> {
        self.songs.get(id)
    }
}

fn by_name(rows: &Collection<NameDoc>, query: &Query, limit: usize, listed: impl Fn(Uuid) -> bool) -> Vec<Uuid> {
    let mut ranked: Vec<(bool, &str, Uuid)> = rows
        .matching(query)
        .into_iter()
        .map(|slot| rows.entry(slot))
        .filter(|entry| listed(entry.id))
        .map(|entry| (*entry.doc.folded == *query.folded, &*entry.doc.folded, entry.id))
        .collect();
    best(&mut ranked, limit, |a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(&b.2)));
    ranked.into_iter().map(|r| r.2).collect()
}

/// Leaves the `limit` first of `items` by `order`, sorted (a partial sort: a broad word matches thousands).
fn best<T>(items: &mut Vec<T>, limit: usize, order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if limit == 0 {
        items.clear();
        return;
    }
    if items.len() > limit {
        items.select_nth_unstable_by(limit - 1, &order);
        items.truncate(limit);
    }
    items.sort_unstable_by(order);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same id for the same name, so songs of one album share it.
    fn named(name: &str) -> Uuid {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        Uuid::from_u64_pair(hasher.finish(), 0)
    }

    fn song(index: &mut Index, title: &str, artist: &str, album: &str, plays: i64) -> Uuid {
        let id = Uuid::new_v4();
        let (album_id, artist_id) = (named(album), named(artist));
        index.put_artist(artist_id, artist);
        index.put_album(album_id, album, artist_id);
        let text = format!("{title} {artist} {album} {artist}");
        index.put_song(SongRow { id, title, search_text: &text, album_id, artist_id, plays });
        id
    }

    #[test]
    fn folding_matches_unaccent_for_common_letters() {
        assert_eq!(fold("Antonín Dvořák"), "antonin dvorak");
        assert_eq!(fold("Straße Ærø Œuvre Łódź"), "strasse aero oeuvre lodz");
        assert_eq!(fold("ＦＵＬＬ ﬁne"), "full fine");
        assert_eq!(fold("Björk"), "bjork");
        assert_eq!(words("ac/dc — don't stop!").collect::<Vec<_>>(), ["ac", "dc", "don", "t", "stop"]);
        assert_eq!(words("坂本龍一 1996").collect::<Vec<_>>(), ["坂本龍一", "1996"]);
    }

    #[test]
    fn trigrams_are_padded_like_pg_trgm() {
        assert_eq!(trigrams("ab"), [[' ', ' ', 'a'], [' ', 'a', 'b'], ['a', 'b', ' ']]);
    }

    #[test]
    fn accents_case_prefixes_and_typos_find_the_same_songs() {
        let mut index = Index::default();
        let largo = song(&mut index, "Largo", "Antonín Dvořák", "New World", 3);
        let allegro = song(&mut index, "Allegro con fuoco", "Antonín Dvořák", "New World", 9);
        song(&mut index, "So What", "Miles Davis", "Kind of Blue", 100);
        for q in ["dvorak", "Dvořák", "DVORAK", "dvork", "dvo", "antonin", "ANTONÍN dvořák"] {
            let query = index.query(q);
            assert_eq!(index.songs(&query, 10), [allegro, largo], "{q}: most played first");
            assert_eq!(index.artists(&query, 10).len(), 1, "{q}");
        }
        assert_eq!(index.songs(&index.query("largo dvorak"), 10), [largo]);
        assert!(index.songs(&index.query("largo davis"), 10).is_empty(), "every word must match");
        assert!(index.songs(&index.query("!?!"), 10).is_empty());
        assert!(index.query("!?!").is_empty());
        assert!(index.songs(&index.query("zzzz"), 10).is_empty());
    }

    #[test]
    fn exact_titles_then_title_matches_then_plays() {
        let mut index = Index::default();
        let blue = song(&mut index, "Blue", "Nobody", "Elsewhere", 0);
        let notes: Vec<Uuid> =
            (0..50).map(|i| song(&mut index, &format!("Blue Note {i}"), "Many", "Notes", 1000 + i)).collect();
        let album_only = song(&mut index, "Freddie", "Miles", "Kind of Blue", 5000);
        let ranked = index.songs(&index.query("blue"), 30);
        assert_eq!(ranked.len(), 30);
        assert_eq!(ranked[0], blue, "the exact title first");
        assert_eq!(ranked[1], notes[49], "then titles, most played first");
        assert!(!ranked.contains(&album_only), "an album match ranks below every title match");
        assert_eq!(index.songs(&index.query("blue"), 100).last(), Some(&album_only));
        assert_eq!(index.albums(&index.query("kind of blue"), 5).len(), 1);
    }

    #[test]
    fn removals_and_changes_are_seen_and_empty_albums_are_not_listed() {
        let mut index = Index::default();
        let a = song(&mut index, "Teardrop", "Massive Attack", "Mezzanine", 1);
        assert_eq!(index.songs(&index.query("teardrop"), 5), [a]);
        let row = |title: &'static str| SongRow {
            id: a,
            title,
            search_text: title,
            album_id: index.song(a).unwrap().album_id,
            artist_id: index.song(a).unwrap().artist_id,
            plays: 1,
        };
        let renamed = row("Zyzzyva Largo");
        index.put_song(renamed);
        assert!(index.songs(&index.query("teardrop"), 5).is_empty());
        for q in ["zyzzyva", "zyzz", "zyzyva", "ZYZZYVA largo"] {
            assert_eq!(index.songs(&index.query(q), 5), [a], "{q}");
        }
        assert_eq!(index.albums(&index.query("mezzanine"), 5).len(), 1);
        index.remove_song(a);
        assert!(index.songs(&index.query("zyzzyva"), 5).is_empty());
        assert!(index.albums(&index.query("mezzanine"), 5).is_empty(), "no songs left");
        assert!(index.artists(&index.query("massive"), 5).len() == 1, "the artist still has the album");
    }

    #[test]
    fn a_query_costs_at_most_eight_words_each_expanded_at_most_sixteen_ways() {
        let mut index = Index::default();
        for i in 0..2000 {
            let word: String =
                format!("{}{}x{i}", char::from(b'a' + (i % 26) as u8), char::from(b'a' + (i / 26 % 26) as u8));
            song(&mut index, &word, "A", "B", 0);
        }
        let letters = "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j";
        let query = index.query(letters);
        assert_eq!(query.terms.len(), MAX_TERMS);
        assert!(query.terms.iter().all(|t| t.alternatives.len() <= 1), "one letter: only itself");
        let two = index.query("ab");
        assert!(two.terms[0].alternatives.len() <= 1 + EXPANSIONS);
        let long = index.query(&"abcdefghij ".repeat(40));
        assert!(long.terms.iter().all(|t| t.alternatives.len() <= 1 + 2 * EXPANSIONS));
    }

    /// The word rules, table-driven: words fold; a word expands to the catalogue words it begins from two
    /// letters and to those it resembles from three; at most the eight longest words count; no words, no search.
    #[test]
    fn query_words_expand_by_the_rules() {
        use std::collections::BTreeSet;
        let mut index = Index::default();
        for word in ["dvorak", "dvoraks", "symphony", "symphonic", "largo", "love", "loves", "lovely", "d"] {
            song(&mut index, word, "X", "Y", 0);
        }
        let sets = |q: &str| -> Vec<BTreeSet<String>> {
            index.query(q).expansions(&index).into_iter().map(|group| group.into_iter().collect()).collect()
        };
        let set = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<BTreeSet<_>>();
        let cases: [(&str, Vec<BTreeSet<String>>); 7] = [
            ("d", vec![set(&["d"])]),
            ("dv", vec![set(&["dvorak", "dvoraks"])]),
            ("dvork", vec![set(&["dvorak", "dvoraks"])]),
            ("Dvořák", vec![set(&["dvorak", "dvoraks"])]),
            ("LOV larg", vec![set(&["largo"]), set(&["love", "loves", "lovely"])]),
            ("symphny", vec![set(&["symphony", "symphonic"])]),
            ("!? … —", vec![]),
        ];
        for (q, expected) in cases {
            assert_eq!(sets(q), expected, "{q}");
        }
        let many = sets("a bb ccc dddd eeeee ffffff ggggggg hhhhhhhh iiiiiiiii");
        assert_eq!(many.len(), MAX_TERMS, "the eight longest words count");
        assert!(
            index.query("a bb ccc dddd eeeee ffffff ggggggg hhhhhhhh iiiiiiiii").terms.iter().all(|t| t.own.is_none())
        );
        assert!(index.query("!? … —").is_empty());
    }
}
