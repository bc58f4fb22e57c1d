/**
 * The hand-written part of the seed catalog: the category tree with what each leaf sells,
 * the brands and the warehouses. catalog-data.ts turns it into rows.
 */

/** One dimension products of a category vary along, e.g. colour or storage. */
export interface VariantAxis {
  /** Key in the variant's `attributes`. */
  key: string;
  /** Values in display order. */
  values: readonly string[];
  /** Price added per step along `values`, as a fraction of the base price. */
  priceStep: number;
}

export interface LeafCategory {
  name: string;
  /** Product types sold here; the last words of each product name. */
  types: readonly string[];
  /** One or two axes the variants differ on. */
  axes: readonly VariantAxis[];
  /** Variant prices in USD cents; both bounds end in 99. */
  price: readonly [min: number, max: number];
  features: readonly string[];
  /** Product-level attributes: key → possible values. */
  attributes: Readonly<Record<string, readonly string[]>>;
}

export interface TopCategory {
  name: string;
  /** Three-letter code used in SKUs. */
  code: string;
  /** Who the products are for, used in descriptions. */
  useCases: readonly string[];
  /** Product-level attributes shared by every leaf. */
  attributes: Readonly<Record<string, readonly string[]>>;
  children: readonly LeafCategory[];
}

export interface BrandSpec {
  name: string;
  /** Codes of the top-level categories this brand sells in. */
  sells: readonly string[];
}

export interface WarehouseSpec {
  code: string;
  name: string;
  region: string;
  country: string;
  latitude: number;
  longitude: number;
}

const axis = (key: string, values: readonly string[], priceStep = 0): VariantAxis => ({ key, values, priceStep });

const AXES = {
  color: axis('color', ['Black', 'White', 'Graphite', 'Silver', 'Navy', 'Sage', 'Coral', 'Sand']),
  fabric: axis('color', ['Black', 'Navy', 'Oatmeal', 'Olive', 'Burgundy', 'Charcoal']),
  phoneStorage: axis('storage', ['128 GB', '256 GB', '512 GB', '1 TB'], 0.18),
  driveStorage: axis('storage', ['256 GB', '512 GB', '1 TB', '2 TB'], 0.45),
  lensKit: axis('kit', ['Body only', 'With 24-70 mm lens'], 0.35),
  watchSize: axis('size', ['41 mm', '45 mm'], 0.08),
  screen: axis('screen', ['24-inch', '27-inch', '32-inch'], 0.3),
  panSize: axis('size', ['20 cm', '24 cm', '28 cm'], 0.15),
  bedSize: axis('size', ['Single', 'Double', 'King'], 0.2),
  apparelSize: axis('size', ['XS', 'S', 'M', 'L', 'XL']),
  shoeSize: axis('size', ['EU 38', 'EU 39', 'EU 40', 'EU 41', 'EU 42', 'EU 43', 'EU 44', 'EU 45']),
  dumbbellWeight: axis('weight', ['4 kg', '8 kg', '12 kg', '16 kg'], 0.5),
  volume: axis('volume', ['30 ml', '50 ml', '100 ml'], 0.5),
  edition: axis('edition', ['Standard', 'Deluxe'], 0.6),
  pieces: axis('pieces', ['250 pieces', '500 pieces', '1000 pieces'], 0.4),
  bookFormat: axis('format', ['Paperback', 'Hardcover', 'Signed Hardcover'], 0.6),
  foodWeight: axis('weight', ['250 g', '500 g', '1 kg'], 0.8),
  pack: axis('pack', ['Single', 'Pack of 3', 'Pack of 6', 'Pack of 12'], 1.2),
} as const;

const WARRANTY = ['1 year', '2 years', '3 years'];

export const CATEGORY_TREE: readonly TopCategory[] = [
  {
    name: 'Electronics',
    code: 'ELE',
    useCases: ['everyday use at home and on the go', 'people who want dependable tech without the fuss', 'creators and commuters alike'],
    attributes: { warranty: WARRANTY },
    children: [
      {
        name: 'Headphones & Audio',
        types: ['Wireless Headphones', 'Noise-Cancelling Earbuds', 'Bluetooth Speaker', 'Soundbar'],
        axes: [AXES.color],
        price: [2999, 49999],
        features: ['up to 40 hours of battery life', 'adaptive noise cancellation', 'multipoint Bluetooth pairing', 'a rich, balanced sound profile', 'USB-C fast charging'],
        attributes: { connectivity: ['Bluetooth 5.3', 'Bluetooth 5.4'] },
      },
      {
        name: 'Smartphones',
        types: ['Smartphone', 'Foldable Smartphone', 'Compact Smartphone'],
        axes: [AXES.color, AXES.phoneStorage],
        price: [19999, 189999],
        features: ['a 6.5-inch OLED display', 'a triple-lens camera system', 'all-day battery life', '5G connectivity', 'an IP68 water-resistant frame'],
        attributes: { display: ['6.1-inch OLED', '6.7-inch OLED'] },
      },
      {
        name: 'Cameras',
        types: ['Mirrorless Camera', 'Action Camera', 'Compact Travel Camera'],
        axes: [AXES.lensKit],
        price: [8999, 249999],
        features: ['a 24-megapixel sensor', 'in-body image stabilisation', '4K video recording', 'weather-sealed controls', 'fast hybrid autofocus'],
        attributes: { sensor: ['APS-C', 'Full frame', '1-inch'] },
      },
      {
        name: 'Wearables',
        types: ['Smartwatch', 'Fitness Tracker', 'GPS Sports Watch'],
        axes: [AXES.color, AXES.watchSize],
        price: [4999, 79999],
        features: ['continuous heart-rate tracking', 'built-in GPS', 'a bright always-on display', 'up to 10 days of battery life', 'sleep and recovery insights'],
        attributes: { waterResistance: ['5 ATM', '10 ATM'] },
      },
    ],
  },
  {
    name: 'Computers',
    code: 'CMP',
    useCases: ['focused work and long study sessions', 'home offices and hybrid teams', 'gamers and power users'],
    attributes: { warranty: WARRANTY },
    children: [
      {
        name: 'Laptops',
        types: ['Ultrabook Laptop', 'Gaming Laptop', 'Convertible Laptop'],
        axes: [AXES.phoneStorage, AXES.color],
        price: [29999, 249999],
        features: ['a 14-inch high-resolution display', 'a backlit keyboard', 'up to 18 hours of battery life', 'a precision glass trackpad', 'an all-aluminium chassis'],
        attributes: { processor: ['8-core CPU', '10-core CPU', '12-core CPU'] },
      },
      {
        name: 'Monitors',
        types: ['4K Monitor', 'Curved Gaming Monitor', 'Portable Monitor'],
        axes: [AXES.screen],
        price: [12999, 119999],
        features: ['a 144 Hz refresh rate', 'factory-calibrated colour', 'a height-adjustable stand', 'USB-C with 90 W charging', 'a low blue-light mode'],
        attributes: { panel: ['IPS', 'OLED', 'VA'] },
      },
      {
        name: 'Keyboards & Mice',
        types: ['Wireless Keyboard', 'Mechanical Keyboard', 'Ergonomic Mouse', 'Gaming Mouse'],
        axes: [AXES.color],
        price: [1999, 19999],
        features: ['quiet, low-profile keys', 'a rechargeable battery that lasts months', 'multi-device switching', 'hot-swappable switches', 'a sculpted, ergonomic shape'],
        attributes: { connectivity: ['Bluetooth', '2.4 GHz wireless', 'USB-C wired'] },
      },
      {
        name: 'Storage Drives',
        types: ['Portable SSD', 'External Hard Drive', 'USB Flash Drive'],
        axes: [AXES.driveStorage],
        price: [1999, 39999],
        features: ['read speeds up to 1,050 MB/s', 'hardware encryption', 'a shock-resistant enclosure', 'USB-C and USB-A cables in the box', 'compatibility with Mac, Windows and Linux'],
        attributes: { interface: ['USB 3.2 Gen 2', 'Thunderbolt 4'] },
      },
    ],
  },
  {
    name: 'Home & Kitchen',
    code: 'HOM',
    useCases: ['busy weeknight cooking and slow weekends', 'calm, comfortable living spaces', 'households that value things built to last'],
    attributes: {},
    children: [
      {
        name: 'Cookware',
        types: ['Nonstick Frying Pan', 'Dutch Oven', 'Saucepan', 'Wok'],
        axes: [AXES.panSize],
        price: [2499, 39999],
        features: ['a PFAS-free ceramic coating', 'even heat distribution', 'oven-safe handles up to 260 °C', 'induction-ready bases', 'dishwasher-safe construction'],
        attributes: { material: ['Stainless Steel', 'Cast Iron', 'Hard-anodised Aluminium'] },
      },
      {
        name: 'Small Appliances',
        types: ['Electric Kettle', 'Espresso Machine', 'Blender', 'Air Fryer'],
        axes: [AXES.color],
        price: [2999, 89999],
        features: ['one-touch presets', 'a removable, dishwasher-safe jug', 'rapid heat-up in under a minute', 'an auto shut-off safety feature', 'a compact countertop footprint'],
        attributes: { power: ['1200 W', '1500 W', '2000 W'] },
      },
      {
        name: 'Bedding',
        types: ['Duvet Cover Set', 'Linen Sheet Set', 'Memory Foam Pillow'],
        axes: [AXES.bedSize, AXES.fabric],
        price: [2499, 24999],
        features: ['breathable long-staple cotton', 'a soft stonewashed finish', 'hidden button closures', 'hypoallergenic filling', 'OEKO-TEX certified fabrics'],
        attributes: { material: ['Cotton Percale', 'Cotton Sateen', 'Washed Linen'] },
      },
      {
        name: 'Lighting',
        types: ['Table Lamp', 'Floor Lamp', 'LED Desk Lamp'],
        axes: [AXES.color],
        price: [2499, 29999],
        features: ['warm dimmable LEDs', 'a weighted, stable base', 'touch controls', 'an adjustable arm', 'energy-efficient bulbs included'],
        attributes: { material: ['Brass', 'Oak', 'Ceramic', 'Powder-coated Steel'] },
      },
    ],
  },
  {
    name: 'Fashion',
    code: 'FSH',
    useCases: ['the office, weekends and everything between', 'travel and long days on your feet', 'a wardrobe that lasts more than one season'],
    attributes: {},
    children: [
      {
        name: "Men's Clothing",
        types: ['Oxford Shirt', 'Merino Sweater', 'Chino Trousers', 'Quilted Jacket'],
        axes: [AXES.apparelSize, AXES.fabric],
        price: [2499, 29999],
        features: ['a tailored yet relaxed fit', 'breathable natural fibres', 'reinforced seams', 'easy-care fabric', 'horn-effect buttons'],
        attributes: { material: ['Organic Cotton', 'Merino Wool', 'Linen', 'Recycled Polyester'], fit: ['Regular', 'Slim', 'Relaxed'] },
      },
      {
        name: "Women's Clothing",
        types: ['Linen Dress', 'Cashmere Cardigan', 'Wrap Blouse', 'Wool Coat'],
        axes: [AXES.apparelSize, AXES.fabric],
        price: [2499, 39999],
        features: ['a flattering relaxed silhouette', 'soft, drapey fabric', 'hidden side pockets', 'easy-care fabric', 'a fully lined interior'],
        attributes: { material: ['Organic Cotton', 'Cashmere', 'Linen', 'Wool Blend'], fit: ['Regular', 'Relaxed', 'Oversized'] },
      },
      {
        name: 'Shoes',
        types: ['Leather Sneakers', 'Trail Running Shoes', 'Chelsea Boots', 'Canvas Loafers'],
        axes: [AXES.shoeSize],
        price: [3999, 24999],
        features: ['cushioned, shock-absorbing midsoles', 'grippy rubber outsoles', 'breathable linings', 'a removable footbed', 'full-grain leather uppers'],
        attributes: { material: ['Leather', 'Suede', 'Recycled Knit', 'Canvas'] },
      },
      {
        name: 'Bags & Accessories',
        types: ['Leather Backpack', 'Crossbody Bag', 'Weekender Duffel', 'Leather Wallet'],
        axes: [AXES.color],
        price: [1999, 34999],
        features: ['vegetable-tanned leather', 'a padded laptop sleeve', 'solid brass hardware', 'a water-repellent lining', 'plenty of inner pockets'],
        attributes: { material: ['Full-grain Leather', 'Waxed Canvas', 'Recycled Nylon'] },
      },
    ],
  },
  {
    name: 'Sports & Outdoors',
    code: 'SPT',
    useCases: ['weekend adventures and daily training', 'trail, track and gym', 'beginners and seasoned athletes'],
    attributes: {},
    children: [
      {
        name: 'Camping & Hiking',
        types: ['Dome Tent', 'Down Sleeping Bag', 'Trekking Poles', 'Hiking Backpack'],
        axes: [AXES.color],
        price: [1999, 59999],
        features: ['lightweight ripstop fabric', 'a waterproof rating of 3,000 mm', 'quick, two-person setup', 'compression straps', 'a packable stuff sack'],
        attributes: { material: ['Ripstop Nylon', 'Aluminium', 'Recycled Polyester'] },
      },
      {
        name: 'Fitness',
        types: ['Adjustable Dumbbell', 'Cast Iron Kettlebell', 'Weight Plate Set'],
        axes: [AXES.dumbbellWeight],
        price: [1999, 39999],
        features: ['a quick-change locking mechanism', 'a knurled, non-slip grip', 'a compact storage tray', 'durable powder-coated steel', 'clear weight markings'],
        attributes: { material: ['Cast Iron', 'Steel', 'Natural Rubber'] },
      },
      {
        name: 'Cycling',
        types: ['Road Bike Helmet', 'Bike Light Set', 'Cycling Jersey'],
        axes: [AXES.color],
        price: [1499, 24999],
        features: ['impact-absorbing protection', 'high-visibility reflective details', 'USB-C rechargeable lights', 'a moisture-wicking fabric', 'an aerodynamic profile'],
        attributes: { material: ['EPS Foam', 'Recycled Polyester', 'Aluminium'] },
      },
    ],
  },
  {
    name: 'Beauty',
    code: 'BEA',
    useCases: ['a simple daily routine', 'self-care that feels like a treat', 'morning and evening rituals'],
    attributes: {},
    children: [
      {
        name: 'Skincare',
        types: ['Hydrating Face Serum', 'Daily Moisturiser', 'Gentle Cleanser', 'Mineral Sunscreen'],
        axes: [AXES.volume],
        price: [999, 8999],
        features: ['hyaluronic acid', 'niacinamide and ceramides', 'a fragrance-free formula', 'a lightweight, non-greasy texture', 'dermatologist-tested ingredients'],
        attributes: { skinType: ['All skin types', 'Dry skin', 'Oily skin', 'Sensitive skin'] },
      },
      {
        name: 'Fragrance',
        types: ['Eau de Parfum', 'Eau de Toilette', 'Body Mist'],
        axes: [AXES.volume],
        price: [2499, 18999],
        features: ['notes of bergamot and cedarwood', 'a warm amber base', 'long-lasting sillage', 'a refillable glass bottle', 'hints of fig and vetiver'],
        attributes: { family: ['Woody', 'Floral', 'Citrus', 'Amber'] },
      },
      {
        name: 'Hair Care',
        types: ['Repair Shampoo', 'Nourishing Conditioner', 'Hair Oil', 'Styling Cream'],
        axes: [AXES.volume],
        price: [899, 4999],
        features: ['sulphate-free cleansers', 'argan and camellia oils', 'heat protection up to 230 °C', 'a salon-quality finish', 'colour-safe formulas'],
        attributes: { hairType: ['All hair types', 'Curly hair', 'Fine hair'] },
      },
    ],
  },
  {
    name: 'Toys & Games',
    code: 'TOY',
    useCases: ['family game nights', 'curious minds aged 6 and up', 'rainy afternoons and holiday gatherings'],
    attributes: { ages: ['6+', '8+', '10+', '14+'] },
    children: [
      {
        name: 'Board Games',
        types: ['Strategy Board Game', 'Family Card Game', 'Cooperative Board Game'],
        axes: [AXES.edition],
        price: [1499, 8999],
        features: ['games that play in 30 to 60 minutes', 'rules that take five minutes to learn', 'richly illustrated cards', 'solid wooden pieces', 'room for two to six players'],
        attributes: { players: ['2-4 players', '2-6 players', '1-5 players'] },
      },
      {
        name: 'Building Sets',
        types: ['Building Block Set', 'Magnetic Tile Set', 'Marble Run Kit'],
        axes: [AXES.pieces],
        price: [1999, 14999],
        features: ['step-by-step illustrated instructions', 'a sturdy storage box', 'bright, non-toxic plastics', 'endless ways to rebuild', 'pieces that click firmly together'],
        attributes: { material: ['ABS Plastic', 'Beech Wood', 'Recycled Plastic'] },
      },
      {
        name: 'Puzzles',
        types: ['Jigsaw Puzzle', 'Panoramic Jigsaw Puzzle', 'Wooden Puzzle'],
        axes: [AXES.pieces],
        price: [999, 4999],
        features: ['thick, glare-free pieces', 'a poster of the finished picture', 'precision-cut, snug-fitting pieces', 'artwork from independent illustrators', 'a recycled cardboard box'],
        attributes: { theme: ['Landscapes', 'Wildlife', 'Cityscapes', 'Fine Art'] },
      },
    ],
  },
  {
    name: 'Books',
    code: 'BOK',
    useCases: ['long train rides and quiet evenings', 'curious readers of every age', 'book clubs and gift giving'],
    attributes: { language: ['English'] },
    children: [
      {
        name: 'Fiction',
        types: ['Mystery Novel', 'Science Fiction Novel', 'Literary Novel', 'Fantasy Saga'],
        axes: [AXES.bookFormat],
        price: [799, 3999],
        features: ['a twisting, page-turning plot', 'characters you will not forget', 'a vividly imagined world', 'an award-winning author', 'an exclusive afterword'],
        attributes: { pages: ['224 pages', '320 pages', '416 pages', '512 pages'] },
      },
      {
        name: 'Non-Fiction',
        types: ['Popular Science Book', 'Biography', 'History Book'],
        axes: [AXES.bookFormat],
        price: [999, 4999],
        features: ['meticulous research', 'clear, engaging explanations', 'dozens of photographs and maps', 'a foreword by a leading expert', 'extensive notes and sources'],
        attributes: { pages: ['256 pages', '352 pages', '448 pages', '560 pages'] },
      },
      {
        name: 'Cookbooks',
        types: ['Baking Cookbook', 'Vegetarian Cookbook', 'Regional Cookbook'],
        axes: [AXES.bookFormat],
        price: [1499, 4999],
        features: ['more than 100 tested recipes', 'step-by-step photography', 'weeknight-friendly meals', 'a lay-flat binding', 'seasonal menus'],
        attributes: { pages: ['192 pages', '288 pages', '384 pages'] },
      },
      {
        name: "Children's Books",
        types: ['Picture Book', 'Early Reader', 'Activity Book'],
        axes: [AXES.bookFormat],
        price: [799, 2499],
        features: ['bright, playful illustrations', 'rhythmic read-aloud text', 'sturdy pages for little hands', 'a gentle bedtime story', 'fun learning activities'],
        attributes: { ages: ['3+', '5+', '7+'] },
      },
    ],
  },
  {
    name: 'Grocery',
    code: 'GRO',
    useCases: ['a well-stocked pantry', 'quick breakfasts and slow Sunday lunches', 'sharing with friends and family'],
    attributes: { dietary: ['Vegan', 'Gluten-free', 'Organic', 'Vegetarian'] },
    children: [
      {
        name: 'Coffee & Tea',
        types: ['Whole Bean Coffee', 'Ground Coffee', 'Loose Leaf Green Tea', 'Chai Blend'],
        axes: [AXES.foodWeight],
        price: [599, 4999],
        features: ['single-origin beans', 'notes of dark chocolate and cherry', 'small-batch roasting', 'a resealable freshness bag', 'ethically sourced leaves'],
        attributes: { origin: ['Colombia', 'Ethiopia', 'Kenya', 'India', 'Guatemala'] },
      },
      {
        name: 'Snacks',
        types: ['Sea Salt Crisps', 'Dark Chocolate Bar', 'Trail Mix', 'Granola'],
        axes: [AXES.pack],
        price: [299, 2999],
        features: ['no artificial flavours', 'a satisfying crunch', 'responsibly sourced cocoa', 'a perfect lunchbox size', 'wholesome, simple ingredients'],
        attributes: { origin: ['Belgium', 'United Kingdom', 'United States', 'Spain'] },
      },
      {
        name: 'Pantry Staples',
        types: ['Extra Virgin Olive Oil', 'Basmati Rice', 'Wildflower Honey', 'Tomato Pasta Sauce'],
        axes: [AXES.pack],
        price: [399, 3999],
        features: ['cold-pressed olives', 'sun-ripened tomatoes', 'raw, unfiltered honey', 'aged long-grain rice', 'no added sugar'],
        attributes: { origin: ['Italy', 'Greece', 'India', 'Spain', 'New Zealand'] },
      },
    ],
  },
  {
    name: 'Garden',
    code: 'GRD',
    useCases: ['balconies, patios and back gardens', 'weekend gardeners and seasoned growers', 'long summer evenings outdoors'],
    attributes: {},
    children: [
      {
        name: 'Gardening Tools',
        types: ['Pruning Shears', 'Garden Trowel', 'Expanding Hose', 'Leaf Rake'],
        axes: [AXES.color],
        price: [999, 7999],
        features: ['hardened carbon-steel blades', 'comfortable ash-wood handles', 'rust-resistant finishes', 'a lightweight design', 'kink-free hose material'],
        attributes: { material: ['Carbon Steel', 'Stainless Steel', 'Ash Wood'] },
      },
      {
        name: 'Outdoor Furniture',
        types: ['Teak Garden Bench', 'Folding Bistro Set', 'Outdoor Lounge Chair', 'Patio Parasol'],
        axes: [AXES.color],
        price: [4999, 99999],
        features: ['sustainably sourced teak', 'weather-resistant powder-coated frames', 'quick-dry cushions', 'a foldable, space-saving design', 'UV-resistant fabric'],
        attributes: { material: ['Teak', 'Aluminium', 'Powder-coated Steel'] },
      },
      {
        name: 'Plants & Seeds',
        types: ['Heirloom Tomato Seeds', 'Herb Garden Kit', 'Wildflower Seed Mix'],
        axes: [AXES.pack],
        price: [299, 2999],
        features: ['heirloom, open-pollinated varieties', 'a high germination rate', 'peat-free growing medium', 'illustrated sowing guides', 'pollinator-friendly flowers'],
        attributes: { sunlight: ['Full sun', 'Partial shade'] },
      },
    ],
  },
];

export const BRANDS: readonly BrandSpec[] = [
  { name: 'Lumora', sells: ['ELE', 'HOM'] },
  { name: 'Orbitek', sells: ['ELE', 'CMP'] },
  { name: 'Zentho', sells: ['ELE'] },
  { name: 'Quillon', sells: ['CMP'] },
  { name: 'Havenbrook', sells: ['HOM'] },
  { name: 'Ember & Oak', sells: ['HOM'] },
  { name: 'Velmont', sells: ['FSH'] },
  { name: 'Marlowe & Reed', sells: ['FSH'] },
  { name: 'Northcove', sells: ['SPT'] },
  { name: 'Tallwater', sells: ['SPT'] },
  { name: 'Solvane', sells: ['BEA'] },
  { name: 'Petalune', sells: ['BEA'] },
  { name: 'Brambleton', sells: ['TOY'] },
  { name: 'Kitewood', sells: ['TOY'] },
  { name: 'Inkwell & Pine', sells: ['BOK'] },
  { name: 'Larkspur Press', sells: ['BOK'] },
  { name: 'Harvest Lane', sells: ['GRO'] },
  { name: 'Goldfield Pantry', sells: ['GRO'] },
  { name: 'Fernhollow', sells: ['GRD'] },
  { name: 'Ironroot', sells: ['GRD'] },
];

export const WAREHOUSES: readonly WarehouseSpec[] = [
  { code: 'AMS1', name: 'Amsterdam Fulfilment Centre', region: 'eu-west', country: 'NL', latitude: 52.3105, longitude: 4.7683 },
  { code: 'NJ1', name: 'New Jersey Fulfilment Centre', region: 'us-east', country: 'US', latitude: 40.5187, longitude: -74.4121 },
  { code: 'BLR1', name: 'Bengaluru Fulfilment Centre', region: 'in-south', country: 'IN', latitude: 13.1986, longitude: 77.7066 },
];
